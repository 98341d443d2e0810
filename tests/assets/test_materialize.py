"""Materialize through Dagster's own APIs with the real definitions and a mock LLM resource."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from daydreaming_dagster.core.stages import STAGES, Stage
from daydreaming_dagster.definitions import ASSETS, build_resources
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.testing.mock_llm import MockLLMResource


def _assets_and_resources(data_root: Path, llm: MockLLMResource) -> tuple[list, dict]:
    return list(ASSETS), build_resources(str(data_root), llm=llm)


def _select(assets: list, names: list[str]) -> list:
    keys = {AssetKey(n) for n in names}
    return [a for a in assets if set(a.keys) & keys]


def test_one_partition_per_stage(compat_data_root: Path) -> None:
    llm = MockLLMResource()
    assets, resources = _assets_and_resources(compat_data_root, llm)
    with DagsterInstance.ephemeral() as instance:
        task_assets = ["selected_combo_mappings", "draft_generation_tasks", "essay_generation_tasks", "evaluation_tasks"]
        result = materialize(_select(assets, task_assets), resources=resources, instance=instance)
        assert result.success
        assert len(instance.get_dynamic_partitions("evaluation_gens")) == 60

        tasks = compat_data_root / "2_tasks"
        draft = pd.read_csv(tasks / "draft_generation_tasks.csv", dtype=str).iloc[0]
        essay = pd.read_csv(tasks / "essay_generation_tasks.csv", dtype=str).set_index("parent_gen_id").loc[draft.gen_id]
        evaluation = pd.read_csv(tasks / "evaluation_tasks.csv", dtype=str).set_index("parent_gen_id").loc[essay.gen_id].iloc[0]

        for stage, gen_id in (("draft", draft.gen_id), ("essay", essay.gen_id), ("evaluation", evaluation.gen_id)):
            result = materialize(
                _select(assets, [f"{stage}_prompt", f"{stage}_response", *task_assets]),
                selection=[AssetKey(f"{stage}_prompt"), AssetKey(f"{stage}_response")],
                resources=resources,
                instance=instance,
                partition_key=gen_id,
            )
            assert result.success, stage
            gen_dir = compat_data_root / "gens" / stage / gen_id
            assert sorted(p.name for p in gen_dir.iterdir()) == ["metadata.json", "parsed.txt", "prompt.txt", "raw.txt"]
            metadata = json.loads((gen_dir / "metadata.json").read_text())
            assert metadata["stage"] == stage and metadata["gen_id"] == gen_id and metadata["status"] == "complete"
            assert metadata["run_id"] == result.run_id
            assert metadata["usage"]["completion_tokens"] == 50

        eval_dir = compat_data_root / "gens" / "evaluation" / evaluation.gen_id
        raw_last_line = (eval_dir / "raw.txt").read_text().splitlines()[-1]
        assert (eval_dir / "parsed.txt").read_text() == f"{float(raw_last_line.split(': ')[1])}\n"
        assert json.loads((eval_dir / "metadata.json").read_text())["parser"] == "in_last_line"
        assert len(llm.provider.calls) == 3


def test_prompt_txt_is_written_once_by_the_engine(compat_data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One owner: the engine writes prompt.txt when it generates; the prompt asset writes no file."""
    writes: list[tuple[str, str, str]] = []
    write = GensStore.write

    def counted(self: GensStore, stage: Stage, gen_id: str, name: str, text: str) -> Path:
        writes.append((stage, gen_id, name))
        return write(self, stage, gen_id, name, text)

    monkeypatch.setattr(GensStore, "write", counted)
    llm = MockLLMResource()
    assets, resources = _assets_and_resources(compat_data_root, llm)
    with DagsterInstance.ephemeral() as instance:
        task_assets = ["selected_combo_mappings", "draft_generation_tasks"]
        assert materialize(_select(assets, task_assets), resources=resources, instance=instance).success
        gen_id = pd.read_csv(compat_data_root / "2_tasks" / "draft_generation_tasks.csv", dtype=str).gen_id[0]
        draft = _select(assets, ["draft_prompt", "draft_response", *task_assets])

        prompt_only = materialize(
            draft, selection=[AssetKey("draft_prompt")], resources=resources, instance=instance, partition_key=gen_id
        )
        assert prompt_only.success
        assert prompt_only.asset_materializations_for_node("draft_prompt")[0].metadata["prompt_chars"].value > 0
        assert writes == [] and not (compat_data_root / "gens").exists()

        both = [AssetKey("draft_prompt"), AssetKey("draft_response")]
        assert materialize(draft, selection=both, resources=resources, instance=instance, partition_key=gen_id).success
    assert writes.count(("draft", gen_id, "prompt.txt")) == 1
    assert (compat_data_root / "gens" / "draft" / gen_id / "prompt.txt").read_text() == llm.provider.calls[0].prompt


def test_essay_without_parent_fails_fast(compat_data_root: Path) -> None:
    llm = MockLLMResource()
    assets, resources = _assets_and_resources(compat_data_root, llm)
    with DagsterInstance.ephemeral() as instance:
        task_assets = ["selected_combo_mappings", "draft_generation_tasks", "essay_generation_tasks"]
        assert materialize(_select(assets, task_assets), resources=resources, instance=instance).success
        essay = pd.read_csv(compat_data_root / "2_tasks" / "essay_generation_tasks.csv", dtype=str).iloc[0]
        result = materialize(
            _select(assets, ["essay_prompt", "essay_response", *task_assets]),
            selection=[AssetKey("essay_prompt"), AssetKey("essay_response")],
            resources=resources,
            instance=instance,
            partition_key=essay.gen_id,
            raise_on_error=False,
        )
        assert not result.success
        failure = [e for e in result.all_events if e.is_step_failure][0]
        message = failure.step_failure_data.error.message  # type: ignore[union-attr]
        assert essay.parent_gen_id in message and "run it first" in message
        assert not (compat_data_root / "gens" / "essay").exists()
        assert llm.provider.calls == []


def test_partitions_are_synced_incrementally(compat_data_root: Path) -> None:
    llm = MockLLMResource()
    assets, resources = _assets_and_resources(compat_data_root, llm)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("draft_gens", ["stale-key"])
        sel = _select(assets, ["selected_combo_mappings", "draft_generation_tasks"])
        result = materialize(sel, resources=resources, instance=instance)
        keys = instance.get_dynamic_partitions("draft_gens")
        assert "stale-key" not in keys and len(keys) == 15
        mat = result.asset_materializations_for_node("draft_generation_tasks")[0]
        assert mat.metadata["partitions_added"].value == 15
        result = materialize(sel, resources=resources, instance=instance)
        mat = result.asset_materializations_for_node("draft_generation_tasks")[0]
        assert mat.metadata["partitions_added"].value == 0 and mat.metadata["partitions_removed"].value == 0


def test_definitions_load_as_dagster_dev_does() -> None:
    from daydreaming_dagster import definitions

    definitions.defs.validate_loadable(definitions.defs)  # raises what `dagster dev` would show
    keys = {key.to_user_string() for key in definitions.defs.resolve_all_asset_keys()}
    assert {f"{stage}_{kind}" for stage in STAGES for kind in ("prompt", "response")} <= keys
    assert definitions.defs.resolve_job_def("build_tasks_job").name == "build_tasks_job"


def test_one_run_over_many_partitions_generates_them_concurrently(compat_data_root: Path) -> None:
    """What a single-run backfill does: one run, a partition range, the runner fans out."""
    from daydreaming_dagster.definitions import build_definitions

    llm = MockLLMResource()
    defs = build_definitions(str(compat_data_root), llm=llm)
    with DagsterInstance.ephemeral() as instance:
        tasks = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=[AssetKey("selected_combo_mappings"), AssetKey("draft_generation_tasks")],
        )
        assert tasks.success
        keys = instance.get_dynamic_partitions("draft_gens")
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=[AssetKey("draft_prompt"), AssetKey("draft_response")],
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        assert result.success
    assert len(llm.provider.calls) == 15
    for key in keys:
        gen_dir = compat_data_root / "gens" / "draft" / key
        assert json.loads((gen_dir / "metadata.json").read_text())["status"] == "complete"
        assert (gen_dir / "prompt.txt").is_file()
