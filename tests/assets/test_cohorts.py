"""Named cohorts in Dagster, through Dagster's own APIs: a spec's partitions appear without a restart
(the sensor), ``cohort_tasks`` plans it, the stage assets generate its gen_ids and charge it, its
results partition writes only its own folder, and the default cohort works as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    DeleteDynamicPartitionsRequest,
    SensorResult,
    build_sensor_context,
)

from daydreaming_dagster.cohort.budget import read_spend
from daydreaming_dagster.cohort.pipeline import load_cohort
from daydreaming_dagster.core.config import load_experiment_config
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES
from daydreaming_dagster.definitions import build_definitions
from daydreaming_dagster.llm import reset_circuit_breakers
from daydreaming_dagster.resources.cohort_materializations import RESULT_ASSETS
from daydreaming_dagster.resources.partition_sync import cohort_gen_ids
from daydreaming_dagster.resources.settings import DataRootResource
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.mock_llm import MockLLMResource
from daydreaming_dagster.testing.sample_data import MODEL_ID
from tests.cli.test_money_safe import PRICES, priced_root, server_paid

TASKS = ["selected_combo_mappings", "draft_generation_tasks", "essay_generation_tasks", "evaluation_tasks"]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture(autouse=True)
def _fresh_circuit_breakers() -> Iterator[None]:
    reset_circuit_breakers()
    yield
    reset_circuit_breakers()


def default_combos(root: Path) -> list[str]:
    return sorted(c.combo_id for c in load_cohort(root, load_experiment_config(root)).combinations)


def write_spec(root: Path, name: str, combos: list[str]) -> Path:
    """A named cohort: ``combos`` x one draft, essay and evaluation template, one model."""
    spec = root / "cohorts" / name / "spec" / "config.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    axes = {"combo_id": combos, "draft_template": ["test-draft"], "draft_llm": [MODEL_ID],
            "essay_template": ["test-essay"], "essay_llm": [MODEL_ID],
            "evaluation_template": ["test-eval"], "evaluation_llm": [MODEL_ID]}
    lines = ["axes:", *(f"  {axis}: [{', '.join(levels)}]" for axis, levels in axes.items())]
    lines += ["output:", f"  field_order: [{', '.join(axes)}]"]
    spec.write_text("\n".join(lines) + "\n")
    return spec


def tick(defs: Definitions, instance: DagsterInstance, root: Path, cursor: str | None) -> SensorResult:
    """One tick of cohort_specs_sensor, its partition requests applied as the daemon applies them."""
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"data_root": DataRootResource(path=str(root))}, definitions=defs
    )
    result = defs.get_sensor_def("cohort_specs_sensor")(context)
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        elif isinstance(request, DeleteDynamicPartitionsRequest):
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def execute(defs: Definitions, instance: DagsterInstance, assets: list[str], **kwargs):  # type: ignore[no-untyped-def]
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, asset_selection=[AssetKey(a) for a in assets], raise_on_error=False, run_config=QUIET,
        **kwargs,
    )


def every_stage(defs: Definitions, instance: DagsterInstance) -> None:
    """Generate every partition of each stage in one run per stage (a single-run backfill)."""
    for stage in STAGES:
        keys = instance.get_dynamic_partitions(STAGE_FACTS[stage].partitions)
        tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
        assert execute(defs, instance, [f"{stage}_prompt", f"{stage}_response"], tags=tags).success, stage


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_new_spec_is_a_partition_without_a_restart(tmp_path: Path) -> None:
    root = priced_root(tmp_path / "data", concepts=4)
    defs = build_definitions(str(root), llm=MockLLMResource())  # loaded before any spec exists
    with DagsterInstance.ephemeral() as instance:
        first = tick(defs, instance, root, None)
        assert instance.get_dynamic_partitions("cohorts") == ["default"] and first.run_requests == []
        assert tick(defs, instance, root, first.cursor).skip_reason is not None

        write_spec(root, "a", default_combos(root)[:2])
        second = tick(defs, instance, root, first.cursor)
        assert instance.get_dynamic_partitions("cohorts") == ["default", "a"]
        (plan,) = second.run_requests
        assert plan.partition_key == "a"
        assert tick(defs, instance, root, second.cursor).run_requests == []  # planned once per spec content

        # The requested run plans the cohort: its tables, membership and its gen_ids as partitions.
        assert execute(defs, instance, ["cohort_tasks"], partition_key="a", tags=plan.tags).success
        tasks = root / "cohorts" / "a" / "tasks"
        assert {p.name for p in tasks.iterdir()} >= {STAGE_FACTS[s].task_file for s in STAGES}
        members = (root / "cohorts" / "a" / "membership.csv").read_text().splitlines()
        for stage in STAGES:
            keys = set(instance.get_dynamic_partitions(STAGE_FACTS[stage].partitions))
            assert keys == {line.split(",")[1] for line in members[1:] if line.startswith(f"{stage},")}
            assert len(keys) == 2
        mat = instance.get_latest_materialization_event(AssetKey("cohort_tasks"))
        assert mat is not None and mat.asset_materialization is not None
        assert mat.asset_materialization.partition == "a"
        assert mat.asset_materialization.metadata["evaluation_rows"].value == 2

        # An edited spec is planned again; a removed one loses its partition (its files stay).
        spec = root / "cohorts" / "a" / "spec" / "config.yaml"
        spec.write_text(spec.read_text() + "\n")
        assert [r.partition_key for r in tick(defs, instance, root, second.cursor).run_requests] == ["a"]
        spec.unlink()
        tick(defs, instance, root, second.cursor)
        assert instance.get_dynamic_partitions("cohorts") == ["default"]
        assert (root / "cohorts" / "a" / "membership.csv").is_file()


def test_a_named_cohort_generates_pays_and_writes_only_its_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = priced_root(tmp_path / "data", concepts=4)
    write_spec(root, "a", default_combos(root)[:2])
    with FakeOpenAIServer(models=PRICES) as server, DagsterInstance.ephemeral() as instance:
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        defs = build_definitions(str(root))  # the real LLM resource, against the fake server
        tick(defs, instance, root, None)
        assert execute(defs, instance, ["cohort_tasks"], partition_key="a").success
        every_stage(defs, instance)  # the partitions are cohort a's gen_ids: 2 drafts, 2 essays, 2 evaluations
        assert server.completion_count == 6
        # The payments are the cohort's that listed the gen_ids, and the study's.
        assert read_spend(root, "a").spent == pytest.approx(server_paid(server), rel=1e-9)
        assert read_spend(root, "default").spent == 0

        outside = {k: v for k, v in tree(root).items() if not k.startswith("cohorts/a/")}
        result = group_results_run(defs, instance, "a")
        assert result.success
        assert {k: v for k, v in tree(root).items() if not k.startswith("cohorts/a/")} == outside
        assert not (root / "5_parsing").exists() and not (root / "7_reporting").exists()
        written = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
        assert set(written) == set(RESULT_ASSETS)
        for asset, event in written.items():
            assert event.partition == "a", asset
        scores = written["parsed_scores"].materialization.metadata
        assert scores["dagster/row_count"].value == 2 and scores["errors"].value == 0
        assert scores["path"].value == str(root / "cohorts" / "a" / "5_parsing" / "parsed_scores.csv")
        assert written["agreement_by_rubric"].materialization.metadata["path"].value.endswith(
            "cohorts/a/6_summary/agreement_by_rubric.csv"
        )
        report = written["cohort_report"].materialization.metadata["path"].value
        assert report == str(root / "cohorts" / "a" / "7_reporting" / "report.html")
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert set(checks) == {"parse_failure_rate_check", "truncation_rate_check", "failed_generations_check"}
        assert all(c.passed and c.partition == "a" for c in checks.values())


def group_results_run(defs: Definitions, instance: DagsterInstance, cohort: str):  # type: ignore[no-untyped-def]
    job = defs.resolve_implicit_global_asset_job_def()
    selection = AssetSelection.groups("results")
    return job.execute_in_process(
        instance=instance,
        asset_selection=list(selection.resolve(defs.resolve_asset_graph())),
        partition_key=cohort,
        raise_on_error=False,
        run_config=QUIET,
    )


def test_a_partition_no_cohort_lists_fails_naming_it(tmp_path: Path) -> None:
    root = priced_root(tmp_path / "data", concepts=4)
    defs = build_definitions(str(root), llm=MockLLMResource())
    with DagsterInstance.ephemeral() as instance:
        assert execute(defs, instance, TASKS).success
        instance.add_dynamic_partitions("draft_gens", ["d_listed_by_nobody"])
        result = execute(defs, instance, ["draft_prompt"], partition_key="d_listed_by_nobody")
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = failure.step_failure_data.error.message  # type: ignore[union-attr]
        assert "1 draft partition(s) listed by no cohort: d_listed_by_nobody" in message
        assert "cohort_tasks" in message


def test_the_default_cohort_is_unchanged_and_keeps_its_partitions(tmp_path: Path) -> None:
    root = priced_root(tmp_path / "data", concepts=4)
    defs = build_definitions(str(root), llm=MockLLMResource())
    with DagsterInstance.ephemeral() as instance:
        tick(defs, instance, root, None)
        assert execute(defs, instance, TASKS).success
        tables = tree(root / "2_tasks")
        default = {s: set(instance.get_dynamic_partitions(STAGE_FACTS[s].partitions)) for s in STAGES}
        # cohort_tasks[default] plans the default cohort as `daydream run` does: the same bytes.
        assert execute(defs, instance, ["cohort_tasks"], partition_key="default").success
        assert tree(root / "2_tasks") == tables
        assert {s: set(instance.get_dynamic_partitions(STAGE_FACTS[s].partitions)) for s in STAGES} == default

        # A named cohort adds its gen_ids; the default's stay, and rebuilding the default keeps the named's.
        write_spec(root, "a", default_combos(root)[:2])
        tick(defs, instance, root, None)
        assert execute(defs, instance, ["cohort_tasks"], partition_key="a").success
        named = {s: set(cohort_gen_ids(root, "a", s)) for s in STAGES}
        assert all(named[s] - default[s] for s in STAGES)  # content-addressed ids: new partitions
        assert execute(defs, instance, TASKS).success
        for stage in STAGES:
            assert set(instance.get_dynamic_partitions(STAGE_FACTS[stage].partitions)) == default[stage] | named[stage]


def test_one_run_over_two_cohorts_charges_each_the_generations_it_listed_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = priced_root(tmp_path / "data", concepts=4)
    combos = default_combos(root)
    write_spec(root, "a", combos[:2])
    write_spec(root, "b", combos[:3])  # shares a's two drafts (content-addressed ids), adds one
    with FakeOpenAIServer(models=PRICES) as server, DagsterInstance.ephemeral() as instance:
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        defs = build_definitions(str(root))
        tick(defs, instance, root, None)
        for name in ("a", "b"):
            assert execute(defs, instance, ["cohort_tasks"], partition_key=name).success
        keys = instance.get_dynamic_partitions("draft_gens")
        assert len(keys) == 3
        tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
        assert execute(defs, instance, ["draft_prompt", "draft_response"], tags=tags).success
    a_drafts = set(cohort_gen_ids(root, "a", "draft"))
    assert {g for _, g in read_spend(root, "a").paid_generations} == a_drafts  # "a" lists them first
    assert {g for _, g in read_spend(root, "b").paid_generations} == set(cohort_gen_ids(root, "b", "draft")) - a_drafts
    assert read_spend(root, "b").study.total == pytest.approx(server_paid(server), rel=1e-9)
