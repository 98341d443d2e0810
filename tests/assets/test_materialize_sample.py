"""The Dagster assets on the project's own small data root (no ../shared needed): every stage
through Dagster's own APIs, a multi-partition run, and experiment.toml read when a run starts."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from daydreaming_dagster.definitions import build_definitions
from daydreaming_dagster.testing.mock_llm import MockLLMResource
from daydreaming_dagster.testing.sample_data import write_wide_data_root

TASKS = ["selected_combo_mappings", "draft_generation_tasks", "essay_generation_tasks", "evaluation_tasks"]


def _run(defs, instance, assets: list[str], **kwargs):  # type: ignore[no-untyped-def]
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, asset_selection=[AssetKey(a) for a in assets], raise_on_error=False, **kwargs
    )


def _range(keys: list[str]) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


def test_every_stage_on_the_sample_data_root(tmp_path: Path) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=3)  # 3 drafts, 6 essays (3 copies), 6 evaluations
    llm = MockLLMResource()
    defs = build_definitions(str(root), llm=llm)
    with DagsterInstance.ephemeral() as instance:
        assert _run(defs, instance, TASKS).success
        for stage, count in (("draft", 3), ("essay", 6), ("evaluation", 6)):
            keys = instance.get_dynamic_partitions(f"{stage}_gens")
            assert len(keys) == count
            result = _run(defs, instance, [f"{stage}_prompt", f"{stage}_response"], tags=_range(keys))
            assert result.success, stage
        # One partition alone re-runs one generation; its metadata comes from the record.
        key = instance.get_dynamic_partitions("evaluation_gens")[0]
        single = _run(defs, instance, ["evaluation_prompt", "evaluation_response"], partition_key=key)
        assert single.success
        mat = single.asset_materializations_for_node("evaluation_response")[0]
        assert mat.metadata["gen_id"].value == key and mat.metadata["parser"].value == "in_last_line"
        assert mat.metadata["cache_hit"].value is True  # the same call: answered by the cache
    # 3 drafts + 3 llm essays + 6 evaluations; the single re-run was free.
    assert len(llm.provider.calls) == 12
    for stage in ("draft", "essay", "evaluation"):
        for gen_dir in (root / "gens" / stage).iterdir():
            assert json.loads((gen_dir / "metadata.json").read_text())["status"] == "complete"
    copies = [d for d in (root / "gens" / "essay").iterdir() if not (d / "prompt.txt").exists()]
    assert len(copies) == 3  # copy-mode essays: no prompt, no call


def test_experiment_toml_is_read_when_a_run_starts(tmp_path: Path) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=3)
    (root / "experiment.toml").write_text('description_level = "summary"\n')
    defs = build_definitions(str(root), llm=MockLLMResource())  # loading the code location does not read it
    with DagsterInstance.ephemeral() as instance:
        result = _run(defs, instance, ["selected_combo_mappings"])
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = failure.step_failure_data.error.message  # type: ignore[union-attr]
        assert "experiment.toml" in message and "description_level" in message
        (root / "experiment.toml").write_text("k_max = 2\n")
        assert _run(defs, instance, ["selected_combo_mappings"]).success  # the next run sees the fix


def test_max_cost_caps_a_dagster_run_too(tmp_path: Path) -> None:
    root = write_wide_data_root(tmp_path / "data", concepts=3)
    models = root / "1_raw" / "llm_models.csv"
    lines = models.read_text().splitlines()
    models.write_text(
        "\n".join([lines[0] + ",prompt_usd_per_mtok,completion_usd_per_mtok", *(r + ",1000,1000" for r in lines[1:])]) + "\n"
    )
    (root / "experiment.toml").write_text("k_max = 2\nmin_draft_lines = 1\nmax_cost = 0.0001\n")
    llm = MockLLMResource()
    defs = build_definitions(str(root), llm=llm)
    with DagsterInstance.ephemeral() as instance:
        assert _run(defs, instance, TASKS).success
        keys = instance.get_dynamic_partitions("draft_gens")
        result = _run(defs, instance, ["draft_prompt", "draft_response"], tags=_range(keys))
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert "Spending cap reached" in failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert llm.provider.calls == []  # a draft's worst case (20,480 tokens at $1,000/M) is over the cap
