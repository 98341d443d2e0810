"""Paired comparisons (results/compare.py) on synthetic cohorts with a known effect."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from daydreaming_dagster.results import compare
from tests.results.synthetic import score_frame

COMBOS = 30


def _cohort(effect: float, *, seed: int, level: str = "", graders: tuple[str, ...] = ("m1", "m2")) -> pd.DataFrame:
    """One essay per combination; combination quality varies (sd 2), each score has noise sd 1."""
    rng = np.random.default_rng(seed)
    quality = np.random.default_rng(0).normal(5, 2, COMBOS)  # the same combinations on both sides
    rows = [{"essay": f"E{level}{c}", "combo": f"c{c}", "draft_template": level or "d1", "grader": g,
             "score": quality[c] + effect + rng.normal(0, 1)}
            for c in range(COMBOS) for g in graders]
    return score_frame(rows)


def test_known_effect_is_found_on_shared_combinations() -> None:
    result = compare.compare_frames(_cohort(0.0, seed=1), _cohort(1.0, seed=2))
    assert result.paired and result.pairs == COMBOS and (result.n_a, result.n_b) == (COMBOS, COMBOS)
    assert result.ci_low < 1.0 < result.ci_high and result.ci_low > 0
    assert result.difference == pytest.approx(1.0, abs=0.4)
    assert result.sentence.startswith(f"B higher than A by {result.difference:.2f} [")
    assert result.sentence.endswith(f"on {COMBOS} pairs (same combination)")
    assert "BCa" in result.method and result.p_value < 0.01


def test_no_effect_gives_an_interval_containing_zero() -> None:
    result = compare.compare_frames(_cohort(0.0, seed=3), _cohort(0.0, seed=4))
    assert result.ci_low < 0 < result.ci_high
    assert result.sentence.startswith("no detectable difference: B - A = ")


def test_pairing_removes_the_combinations_spread() -> None:
    """Unpaired, the combinations' sd of 2 hides a +1 effect that the pairing finds."""
    a, b = _cohort(0.0, seed=1), _cohort(1.0, seed=2)
    paired = compare.compare_frames(a, b)
    b_elsewhere = b.assign(combo_id="other-" + b["combo_id"])
    unpaired = compare.compare_frames(a, b_elsewhere)
    assert not unpaired.paired and unpaired.pairs == 0
    assert unpaired.sentence.startswith("unpaired (no shared combination): ")
    assert unpaired.method.startswith("unpaired")
    assert (unpaired.ci_high - unpaired.ci_low) > 1.5 * (paired.ci_high - paired.ci_low)


def test_factor_levels_are_compared_within_one_frame_and_as_json() -> None:
    scores = pd.concat([_cohort(0.0, seed=1, level="x"), _cohort(1.0, seed=2, level="y")], ignore_index=True)
    result = compare.compare_factor(scores, "draft_template", "x", "y")
    assert result.pairs == COMBOS and result.ci_low < 1.0 < result.ci_high and result.ci_low > 0
    data = json.loads(json.dumps(result.as_json()))
    assert {"difference", "ci_low", "ci_high", "pairs", "method"} <= set(data)
    assert data["a"] == {"level": "x", "mean": pytest.approx(result.mean_a, abs=1e-4), "n": COMBOS}
    assert data["b"]["level"] == "y" and data["b"]["n"] == COMBOS
    table = compare.comparisons(scores)
    assert list(table["factor"]) == ["draft_template", "evaluation_model"]
    grader_row = table[table["factor"] == "evaluation_model"].iloc[0]
    assert grader_row["unit"] == "essay_gen_id" and grader_row["pairs"] == 2 * COMBOS  # the same essays


def test_a_grader_offset_is_found_on_the_same_essays() -> None:
    rng = np.random.default_rng(9)
    quality = rng.normal(5, 2, 40)
    rows = [{"essay": f"E{i}", "grader": g, "score": quality[i] + offset + rng.normal(0, 0.5)}
            for i in range(40) for g, offset in (("lenient", 0.8), ("strict", 0.0))]
    result = compare.compare_factor(score_frame(rows), "evaluation_model", "strict", "lenient")
    assert result.unit == "essay_gen_id" and result.pairs == 40
    assert result.ci_low < 0.8 < result.ci_high and result.ci_low > 0
