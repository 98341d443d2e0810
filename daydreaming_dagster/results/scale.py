"""Each rubric's scale in the score tables: what "perfect", "high" and "low" mean for one score.

``parsed_scores`` carries every evaluation's scale (``score_min``, ``score_max``,
``success_threshold`` from ``evaluation_templates.csv``; upstream's 0-10 and no threshold by
default). The rules, which are upstream's on 0-10:

- perfect: the top of the scale (upstream: ``== 10``);
- high: at least the success threshold when one is declared, else at least 80 % of the way up the
  scale (upstream: ``>= 8``);
- low: at most 30 % of the way up the scale (upstream: ``<= 3``);
- the spread of scores is judged relative to the scale's width (upstream's ranges 1, 2 and 3 on a
  width of 10).
"""

from __future__ import annotations

import pandas as pd

from daydreaming_dagster.inputs.types import DEFAULT_SCALE, SCALE_COLUMNS

HIGH_FRACTION = (8, 10)  # as a fraction p/q, so that 0-10 gives exactly 8.0 (0.8 * 10 is not 8.0 in floats)
LOW_FRACTION = (3, 10)
DEFAULTS = {"score_min": DEFAULT_SCALE.score_min, "score_max": DEFAULT_SCALE.score_max, "success_threshold": None}


def with_scale(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores with numeric ``score_min``, ``score_max`` and ``success_threshold`` (a copy when
    they had to be added or typed: a frame read back from CSV holds text, an old one none)."""
    if all(c in scores.columns and pd.api.types.is_float_dtype(scores[c]) for c in SCALE_COLUMNS):
        return scores
    frame = scores.copy()
    for column in SCALE_COLUMNS:
        default = DEFAULTS[column]
        values = pd.to_numeric(frame[column], errors="coerce") if column in frame.columns else None
        if values is None:
            values = pd.Series(float("nan"), index=frame.index)
        frame[column] = values.astype(float) if default is None else values.fillna(default).astype(float)
    return frame


def width(frame: pd.DataFrame) -> pd.Series:
    return frame["score_max"] - frame["score_min"]


def _cut(frame: pd.DataFrame, fraction: tuple[int, int]) -> pd.Series:
    return frame["score_min"] + width(frame) * fraction[0] / fraction[1]


def is_perfect(frame: pd.DataFrame, score: pd.Series) -> pd.Series:
    return score == frame["score_max"]


def is_high(frame: pd.DataFrame, score: pd.Series) -> pd.Series:
    cut = frame["success_threshold"].where(frame["success_threshold"].notna(), _cut(frame, HIGH_FRACTION))
    return score >= cut


def is_low(frame: pd.DataFrame, score: pd.Series) -> pd.Series:
    return score <= _cut(frame, LOW_FRACTION)


def label(score_min: float, score_max: float) -> str:
    """``0-10``, as ``ScoreScale.label`` writes it."""
    return f"{score_min:g}-{score_max:g}"


def scale_labels(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(
        [label(a, b) for a, b in zip(frame["score_min"], frame["score_max"], strict=True)], index=frame.index
    )
