"""Batched runless materializations read back exactly as Dagster's own one-by-one reports."""

from __future__ import annotations

import pytest
from dagster import AssetKey, AssetMaterialization, DagsterInstance

from daydreaming_dagster.resources.reporter import store_materializations


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_batches_read_back_like_single_reports(storage: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("sqlite_home" if storage == "sqlite" else "postgres_home")
    with DagsterInstance.get() as instance:
        mats = [
            AssetMaterialization(asset_key=AssetKey(asset), partition=f"p{i:04d}", metadata={"i": i, "mode": "llm"})
            for i in range(700)
            for asset in ("x_prompt", "x_response")
        ]
        store_materializations(instance, mats, batch_size=300)
        instance.report_runless_asset_event(AssetMaterialization(asset_key=AssetKey("single"), partition="p0000"))
        assert {AssetKey("x_prompt"), AssetKey("x_response"), AssetKey("single")} <= set(instance.get_asset_keys())
        for asset in ("x_prompt", "x_response"):
            key = AssetKey(asset)
            assert set(instance.get_materialized_partitions(key)) == {f"p{i:04d}" for i in range(700)}
            latest = instance.get_latest_materialization_event(key)
            assert latest is not None and latest.dagster_event is not None
            assert latest.dagster_event.partition == "p0699"
            newest = instance.fetch_materializations(key, limit=2).records
            assert [r.partition_key for r in newest] == ["p0699", "p0698"]
            assert newest[0].asset_materialization is not None
            assert newest[0].asset_materialization.metadata["i"].value == 699
        single = instance.fetch_materializations(AssetKey("single"), limit=1).records[0]
        assert single.run_id == newest[0].run_id == ""  # both runless
