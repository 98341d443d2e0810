"""Agreement between graders, within one rubric, on synthetic cohorts with a known answer."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest

from daydreaming_dagster.results import agreement, tables
from tests.results.synthetic import score_frame

ESSAYS = 120


def _two_rubric_cohort(*, noise_grader: bool = False, seed: int = 5) -> pd.DataFrame:
    """Two rubrics whose essay qualities are unrelated (originality vs scientific value); within a
    rubric graders m1, m2, m3 give the same integer score. With ``noise_grader``, m3 scores at random."""
    rng = np.random.default_rng(seed)
    originality = rng.integers(0, 11, ESSAYS)
    value = rng.integers(0, 11, ESSAYS)
    rows = []
    for i in range(ESSAYS):
        for rubric, truth in (("originality", originality[i]), ("value", value[i])):
            for grader in ("m1", "m2", "m3"):
                score = int(rng.integers(0, 11)) if noise_grader and grader == "m3" else int(truth)
                rows.append({"essay": f"E{i:03d}", "rubric": rubric, "grader": grader, "score": score})
    return score_frame(rows)


def test_perfect_graders_agree_fully_on_each_rubric_and_no_essay_is_poor() -> None:
    scores = _two_rubric_cohort()
    by_rubric = agreement.agreement_by_rubric(scores).set_index("evaluation_template")
    assert list(by_rubric.index) == ["originality", "value"]
    for rubric in by_rubric.index:
        row = by_rubric.loc[rubric]
        assert (row["agreement"], row["ci_low"], row["ci_high"]) == (1.0, 1.0, 1.0)
        assert (row["graders"], row["essays"], row["poor_agreement_essays"]) == (3, ESSAYS, 0)
        assert row["high_agreement_essays"] == ESSAYS and "Krippendorff" in row["method"]
    per_essay = agreement.essay_agreement_by_rubric(scores)
    assert len(per_essay) == 2 * ESSAYS and set(per_essay["agreement_classification"]) == {"high_agreement"}
    # upstream's pooled view mixes the two rubrics and calls many of these essays "poor": labelled as pooled
    pooled = tables.evaluator_agreement_analysis(scores)
    assert (pooled["agreement_classification"] == "poor_agreement").sum() > ESSAYS / 3
    assert set(pooled["scope"]) == {tables.POOLED_SCOPE}
    # n_graders counts models (3), not rubric x model cells (6)
    assert set(tables.top_essays(scores)["n_graders"]) == {3}


def test_a_noise_grader_shows_agreement_near_zero() -> None:
    scores = _two_rubric_cohort(noise_grader=True)
    graders = agreement.grader_agreement(scores).set_index(["evaluation_template", "evaluation_model"])
    for rubric in ("originality", "value"):
        noise = graders.loc[(rubric, "m3")]
        assert abs(noise["correlation_with_others"]) < 0.25 and abs(noise["alpha_with_others"]) < 0.25
        assert graders.loc[(rubric, "m1"), "correlation_with_others"] > 0.6
        m1 = graders.loc[(rubric, "m1")]
        assert m1["essays_scored"] == ESSAYS and m1["mean_ci_low"] < m1["mean_score"] < m1["mean_ci_high"]
    pairs = agreement.grader_pairs(scores)
    good = pairs[(pairs["grader_a"] == "m1") & (pairs["grader_b"] == "m2")]
    assert set(good["pearson"]) == {1.0} and set(good["alpha"]) == {1.0}
    by_rubric = agreement.agreement_by_rubric(scores)
    assert (by_rubric["agreement"] < 0.9).all() and (by_rubric["ci_low"] < by_rubric["agreement"]).all()


def test_alpha_from_unit_sums_is_the_librarys_alpha() -> None:
    """The bootstrap's fast alpha equals krippendorff.alpha, on the data and on resampled essays."""
    rng = np.random.default_rng(7)
    truth = rng.normal(5, 2, 200)
    matrix = pd.DataFrame({f"g{k}": np.round(truth + rng.normal(0, 1 + k, 200)) for k in range(3)})
    matrix = matrix.mask(rng.random(matrix.shape) < 0.25)
    sums = agreement.unit_sums(matrix)
    kept = matrix[(matrix.notna().sum(axis=1) >= 2).to_numpy()].reset_index(drop=True)
    library = krippendorff.alpha(reliability_data=kept.to_numpy().T, level_of_measurement="interval")
    assert float(agreement.alpha_from_unit_sums(*sums)) == pytest.approx(library, abs=1e-12)
    for _ in range(5):
        index = rng.integers(0, len(kept), len(kept))
        resampled = kept.iloc[index].to_numpy().T
        expected = krippendorff.alpha(reliability_data=resampled, level_of_measurement="interval")
        assert float(agreement.alpha_from_unit_sums(*(s[index] for s in sums))) == pytest.approx(expected, abs=1e-12)


def test_noise_components_separate_generation_and_grader_noise() -> None:
    """Replicate essays differ by generation noise sd 2; one grader re-scores with noise sd 0.5."""
    rng = np.random.default_rng(11)
    rows = []
    for combo in range(150):
        for replicate in (1, 2):
            essay_quality = 5 + rng.normal(0, 2)
            for evaluation_replicate in (1, 2):
                rows.append({"essay": f"E{combo}-{replicate}", "combo": f"c{combo}", "essay_replicate": replicate,
                             "grader": "m1", "replicate": evaluation_replicate,
                             "score": essay_quality + rng.normal(0, 0.5)})
    (row,) = agreement.noise_components(score_frame(rows)).to_dict("records")
    assert row["rerun_sd"] == pytest.approx(0.5, abs=0.06) and row["rerun_cells"] == 300
    # replicate essays, each the mean of 2 re-scorings: sqrt(2^2 + 0.5^2 / 2)
    assert row["generation_sd"] == pytest.approx(np.sqrt(4 + 0.125), rel=0.12) and row["generation_groups"] == 150
    assert np.isnan(row["between_grader_sd"])  # one grader
