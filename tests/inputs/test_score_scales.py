"""evaluation_templates.csv's optional scale columns: upstream's 0-10 by default, a declared range
and success threshold when given, and one clear problem (file, line, column, fix) when they are wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from daydreaming_dagster.inputs import InputError, load_raw_data
from daydreaming_dagster.inputs.loaders import load_score_scales
from daydreaming_dagster.inputs.types import DEFAULT_SCALE, ScoreScale
from daydreaming_dagster.testing.sample_data import EVALUATION_TEMPLATE_ID

HEADER = "template_id,template_name,description,active,parser"
# ``root`` (tests/conftest.py): a small valid data root with one evaluation template.


def _write_evaluations(root: Path, header: str, *rows: str) -> Path:
    path = root / "1_raw" / "evaluation_templates.csv"
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_no_scale_columns_is_upstreams_0_to_10(root: Path) -> None:
    template = load_raw_data(root).template("evaluation", EVALUATION_TEMPLATE_ID)
    assert template.scale == DEFAULT_SCALE == ScoreScale(0.0, 10.0, None)
    assert load_score_scales(root) == {EVALUATION_TEMPLATE_ID: DEFAULT_SCALE}


def test_declared_scale_and_threshold(root: Path) -> None:
    _write_evaluations(
        root, HEADER + ",score_min,score_max,success_threshold",
        f"{EVALUATION_TEMPLATE_ID},Test,last line,true,in_last_line,0,9,8",
        "other,Other,blank means default,false,in_last_line,,,",
    )
    data = load_raw_data(root)
    assert data.template("evaluation", EVALUATION_TEMPLATE_ID).scale == ScoreScale(0.0, 9.0, 8.0)
    assert data.template("evaluation", "other").scale == DEFAULT_SCALE
    scales = load_score_scales(root)
    assert scales[EVALUATION_TEMPLATE_ID].label == "0-9" and scales["other"].label == "0-10"
    assert scales[EVALUATION_TEMPLATE_ID].contains(9.0) and not scales[EVALUATION_TEMPLATE_ID].contains(10.0)


@pytest.mark.parametrize(
    ("cells", "column", "problem", "fix"),
    [
        ("zero,9,", "score_min", "'zero' is not a number", "lowest score"),
        ("0,nine,", "score_max", "'nine' is not a number", "highest score"),
        ("0,inf,", "score_max", "'inf' is not a number", "highest score"),
        ("5,5,", "score_max", "the scale 5-5 is empty", "score_min and the highest in score_max"),
        ("0,9,10", "success_threshold", "success_threshold 10 is outside the scale 0-9", "between 0 and 9"),
        ("0,,12", "success_threshold", "success_threshold 12 is outside the scale 0-10", "between 0 and 10"),
    ],
)
def test_bad_scale_is_one_problem_with_line_and_fix(
    root: Path, cells: str, column: str, problem: str, fix: str
) -> None:
    path = _write_evaluations(
        root, HEADER + ",score_min,score_max,success_threshold",
        f"{EVALUATION_TEMPLATE_ID},Test,last line,true,in_last_line,{cells}",
    )
    for load in (load_raw_data, load_score_scales):
        with pytest.raises(InputError) as info:
            load(root)
        (found,) = info.value.problems
        assert (found.file, found.line, found.column) == (path, 2, column)
        assert problem in found.problem and fix in found.fix
        assert f"{path}:2: column '{column}':" in str(info.value)


def test_no_evaluation_templates_file_means_no_scales(tmp_path: Path) -> None:
    assert load_score_scales(tmp_path) == {}
