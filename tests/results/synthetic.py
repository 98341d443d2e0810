"""Synthetic ``parsed_scores`` frames with known answers, built in memory (no disk, no LLM).

``score_frame(rows)`` turns a list of dicts (only what a test cares about) into a frame with every
column ``scores.scores_frame`` writes; missing lineage gets neutral defaults, so that an essay is
identified by ``essay`` and a score by (essay, rubric, grader, replicate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from daydreaming_dagster.results.scores import SCORE_COLUMNS


def score_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One parsed_scores row per dict: keys ``essay``, ``combo``, ``draft_template``,
    ``essay_template``, ``model``, ``rubric``, ``grader``, ``replicate``, ``score`` (None = failed),
    ``score_min``, ``score_max``, ``threshold``."""
    out = []
    for i, row in enumerate(rows):
        essay = str(row["essay"])
        rubric = str(row.get("rubric", "t1"))
        grader = str(row.get("grader", "m1"))
        replicate = int(row.get("replicate", 1))
        score = row.get("score")
        combo = str(row.get("combo", f"combo-{essay}"))
        out.append({
            "gen_id": f"V{i}-{essay}-{rubric}-{grader}-{replicate}", "parent_gen_id": essay,
            "draft_gen_id": f"D-{essay}", "combo_id": combo, "concepts": f"{combo}-x;{combo}-y",
            "concept_names": f"{combo} X; {combo} Y", "draft_template": str(row.get("draft_template", "d1")),
            "essay_template": str(row.get("essay_template", "e1")), "generation_model": str(row.get("model", "g1")),
            "evaluation_template": rubric, "evaluation_model": grader, "draft_replicate": 1,
            "essay_replicate": int(row.get("essay_replicate", 1)), "evaluation_replicate": replicate,
            "score": np.nan if score is None else float(score), "error": "" if score is not None else "failed: x",
            "score_min": float(row.get("score_min", 0.0)), "score_max": float(row.get("score_max", 10.0)),
            "success_threshold": float(row["threshold"]) if row.get("threshold") is not None else np.nan,
            "evaluation_response_path": f"gens/evaluation/V{i}/parsed.txt",
            "generation_response_path": f"gens/essay/{essay}/parsed.txt", "template_id": rubric,
            "generation_template": str(row.get("essay_template", "e1")), "stage": "essay",
        })
    return pd.DataFrame(out, columns=SCORE_COLUMNS)
