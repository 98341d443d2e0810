"""`daydream run` with DAGSTER_HOME set: the UI's view of the instance matches the disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from daydreaming_dagster.assets.partitions import PARTITIONS_BY_STAGE
from daydreaming_dagster.cli import EXIT_OK, main
from daydreaming_dagster.core.stages import STAGE_FACTS, STAGES
from daydreaming_dagster.engine.store import GensStore
from daydreaming_dagster.testing.fake_openai_server import FakeOpenAIServer
from daydreaming_dagster.testing.sample_data import write_minimal_data_root

ASSETS = [(stage, kind) for stage in STAGES for kind in ("prompt", "response")]


def _materialized(instance: DagsterInstance) -> dict[str, set[str]]:
    """Materialized partitions per asset, as the UI computes them (the asset status cache)."""
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    out = {}
    for stage, kind in ASSETS:
        key, partitions = AssetKey(f"{stage}_{kind}"), PARTITIONS_BY_STAGE[stage]
        cached = get_and_update_asset_status_cache_value(instance, key, partitions)
        assert cached is not None
        ui = set(cached.deserialize_materialized_partition_subsets(partitions).get_partition_keys())
        assert ui == set(instance.get_materialized_partitions(key))
        out[f"{stage}_{kind}"] = ui
    return out


def _complete(root: Path) -> dict[str, set[str]]:
    store = GensStore(root)
    out = {}
    for stage in STAGES:
        folder = root / "gens" / stage
        ids = {p.name for p in folder.iterdir() if store.is_complete(stage, p.name)} if folder.is_dir() else set()
        out[f"{stage}_prompt"] = out[f"{stage}_response"] = ids
    return out


def _events(instance: DagsterInstance) -> int:
    return sum(len(instance.fetch_materializations(AssetKey(f"{s}_{k}"), limit=10_000).records) for s, k in ASSETS)


def test_cli_run_leaves_the_ui_view_complete(
    tmp_path: Path, sqlite_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_minimal_data_root(tmp_path / "data")
    (root / "experiment.toml").write_text("draft_replicates = 2\n")
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK
        assert "generation(s) reported as materialized" in capsys.readouterr().out
        with DagsterInstance.get() as instance:
            complete = _complete(root)
            assert all(complete.values())
            assert _materialized(instance) == complete
            for stage in STAGES:  # the partitions are the task tables' gen_ids
                assert set(instance.get_dynamic_partitions(STAGE_FACTS[stage].partitions)) == complete[f"{stage}_response"]
            assert instance.get_latest_materialization_event(AssetKey("evaluation_tasks")) is not None
            copies = [
                r for r in instance.fetch_materializations(AssetKey("essay_prompt"), limit=100).records
                if r.asset_materialization and r.asset_materialization.metadata["mode"].value == "copy"
            ]
            assert len(copies) == 2  # copy-mode essays: both assets, the prompt says mode copy
            events = _events(instance)

        # A re-run skips everything and reports nothing twice; the disk stays the truth.
        calls = server.request_count
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK
        assert server.request_count == calls
        with DagsterInstance.get() as instance:
            assert _events(instance) == events
            assert _materialized(instance) == _complete(root)


def test_dagster_run_metadata_matches_the_cli_report(
    tmp_path: Path, sqlite_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A multi-partition Dagster run gives each partition the metadata the CLI reports."""
    from daydreaming_dagster.definitions import build_definitions

    root = write_minimal_data_root(tmp_path / "data")
    with FakeOpenAIServer() as server, DagsterInstance.get() as instance:
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK
        calls = server.request_count
        keys = list(instance.get_dynamic_partitions("evaluation_gens"))  # a range follows this order
        before = {k: _latest_metadata(instance, "evaluation_response", k) for k in keys}
        result = build_definitions(str(root)).resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=[AssetKey("evaluation_prompt"), AssetKey("evaluation_response")],
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        assert result.success and len(keys) == 2
        assert server.request_count == calls  # the response cache answered: nothing paid twice
        for key in keys:
            after = _latest_metadata(instance, "evaluation_response", key)
            assert after["cache_hit"] is True and before[key]["cache_hit"] is False
            # The CLI paid for the answer; the Dagster run reused it, for nothing.
            assert (before[key]["answer"], after["answer"]) == ("paid", "reused")
            assert after["cost"] == 0.0
            summary = ("cache_hit", "generations", "llm_calls", "cache_hits")  # the run's own totals
            money = ("answer", "cost")
            assert {k: v for k, v in after.items() if k not in (*summary, *money)} == {
                k: v for k, v in before[key].items() if k not in ("cache_hit", *money)
            }
            assert _latest_metadata(instance, "evaluation_prompt", key)["mode"] == "llm"


def _latest_metadata(instance: DagsterInstance, asset: str, partition: str) -> dict[str, object]:
    records = instance.fetch_materializations(AssetKey(asset), limit=100).records
    record = next(r for r in records if r.partition_key == partition)
    assert record.asset_materialization is not None
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def test_a_broken_instance_never_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.dagster.conftest import make_home

    home = make_home(tmp_path / "home", "dagster-postgres.yaml")  # and no DAGSTER_PG_URL
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    root = write_minimal_data_root(tmp_path / "data")
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "NOTHING reported" in out and "DAGSTER_PG_URL" in out, out
    assert all(_complete(root).values())


# ---------------------------------------------------------------------------- named cohorts (issue 18)


def _cohort_a(root: Path) -> None:
    from tests.assets.test_cohorts import default_combos, write_spec

    write_spec(root, "a", default_combos(root)[:2])


def test_a_cohort_run_reports_its_results_partition_as_a_dagster_run_does(
    tmp_path: Path, sqlite_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What cli/run.py does after writing a cohort's results: ``reporter.report_results(cohort,
    paths)`` before ``close()``; the partition's metadata equals a Dagster run's, key for key."""
    from daydreaming_dagster.cohort.pipeline import load_cohort
    from daydreaming_dagster.core.config import load_experiment_config
    from daydreaming_dagster.definitions import build_definitions
    from daydreaming_dagster.resources.cohort_materializations import RESULT_ASSETS
    from daydreaming_dagster.resources.reporter import ProcessReporter, reporter_from_env
    from daydreaming_dagster.results.writer import write_all_results
    from tests.assets.test_cohorts import group_results_run
    from tests.cli.test_money_safe import PRICES, priced_root

    root = priced_root(tmp_path / "data", concepts=4)
    with FakeOpenAIServer(models=PRICES) as server:
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK
        _cohort_a(root)
        assert main(["run", "--data-root", str(root), "--quiet", "--cohort", "a"]) == EXIT_OK
    with DagsterInstance.get() as instance:
        default_drafts = set((root / "gens" / "draft").iterdir())
        drafts = set(instance.get_dynamic_partitions("draft_gens"))
        assert {p.name for p in default_drafts} <= drafts  # cohort a's registration kept the default's
        assert set(instance.get_dynamic_partitions("cohorts")) == {"default", "a"}
        planned = instance.get_latest_materialization_event(AssetKey("cohort_tasks"))
        assert planned is not None and planned.asset_materialization is not None
        assert planned.asset_materialization.partition == "a"  # told from the tables: a named cohort
        tasks = instance.get_latest_materialization_event(AssetKey("draft_generation_tasks"))
        assert tasks is not None and tasks.asset_materialization is not None
        assert tasks.asset_materialization.metadata["rows"].value == 6  # still the default cohort's 2_tasks

    cohort = load_cohort(root, load_experiment_config(root), name="a")
    reporter = reporter_from_env(GensStore(root), cohort.tables, warn=pytest.fail, cohort="a")
    assert isinstance(reporter, ProcessReporter)
    reporter.report_results("a", write_all_results(root, cohort="a"))
    stats = reporter.close()
    assert stats.results_assets == len(RESULT_ASSETS) and stats.errors == 0
    assert f"the results of cohort a ({len(RESULT_ASSETS)} assets)" in stats.line(reporter.where)
    with pytest.raises(RuntimeError, match="after close"):
        reporter.report_results("a", {})

    with DagsterInstance.get() as instance:
        reported = {asset: _latest_metadata(instance, asset, "a") for asset in RESULT_ASSETS}
        result = group_results_run(build_definitions(str(root)), instance, "a")
        assert result.success
        for asset in RESULT_ASSETS:
            assert _latest_metadata(instance, asset, "a") == reported[asset], asset


def test_daydream_run_cohort_reports_the_results_partition(
    tmp_path: Path, sqlite_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daydreaming_dagster.resources.cohort_materializations import RESULT_ASSETS
    from tests.cli.test_money_safe import PRICES, priced_root

    root = priced_root(tmp_path / "data", concepts=4)
    _cohort_a(root)
    with FakeOpenAIServer(models=PRICES) as server:
        monkeypatch.setenv("DD_LLM_BASE_URL", server.base_url)
        assert main(["run", "--data-root", str(root), "--quiet"]) == EXIT_OK
        assert main(["run", "--data-root", str(root), "--quiet", "--cohort", "a"]) == EXIT_OK
    with DagsterInstance.get() as instance:
        for asset in RESULT_ASSETS:
            assert set(instance.get_materialized_partitions(AssetKey(asset))) == {"default", "a"}, asset
        scores = _latest_metadata(instance, "parsed_scores", "a")
        assert scores["path"] == str(root / "cohorts" / "a" / "5_parsing" / "parsed_scores.csv")
