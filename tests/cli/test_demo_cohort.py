"""The project's demo data through the whole pipeline on the real embedded model (reduced size)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from daydreaming_dagster.cli import EXIT_OK, main
from tests.conftest import REPO

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the [local] extra (llama-cpp-python)"),
]


def test_demo_data_runs_end_to_end_on_smollm2(tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(REPO / "data" / "1_raw", root / "1_raw")
    demo = (REPO / "data" / "experiment.toml").read_text()
    # One combination instead of five keeps it to 12 model calls; everything else as in the demo.
    (root / "experiment.toml").write_text(demo.replace("k_max = 4", "k_max = 5"))
    assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK

    for stage, count in (("draft", 2), ("essay", 4), ("evaluation", 8)):
        dirs = sorted((root / "gens" / stage).iterdir())
        assert len(dirs) == count
        for gen_dir in dirs:
            names = {p.name for p in gen_dir.iterdir()}
            metadata = json.loads((gen_dir / "metadata.json").read_text())
            expected = {"raw.txt", "parsed.txt", "metadata.json"} | ({"prompt.txt"} if metadata["mode"] == "llm" else set())
            assert names == expected and metadata["status"] == "complete"
    for gen_dir in (root / "gens" / "evaluation").iterdir():
        score = float((gen_dir / "parsed.txt").read_text())
        assert 0 <= score <= 9
        assert json.loads((gen_dir / "metadata.json").read_text())["grammar"].endswith(".gbnf")
    summary = (root / "6_summary" / "score_summary.csv").read_text()
    assert "overall,all,8," in summary
