"""One Dagster run in its own process (what the daemon launches), for tests/dagster.

    python -m tests.dagster._dagster_run DATA_ROOT STAGE FIRST_KEY LAST_KEY

Materializes ``<stage>_prompt`` and ``<stage>_response`` over the partition range FIRST_KEY..LAST_KEY
on the instance of ``DAGSTER_HOME``, with the real ``LLMResource`` (``DD_LLM_BASE_URL``). Prints the
run id; exit status 0 when the run succeeded.
"""

from __future__ import annotations

import sys

from dagster import AssetKey, DagsterInstance

from daydreaming_dagster.definitions import build_definitions

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def main(argv: list[str]) -> int:
    data_root, stage, first, last = argv
    defs = build_definitions(data_root)
    with DagsterInstance.get() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=[AssetKey(f"{stage}_prompt"), AssetKey(f"{stage}_response")],
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
            run_config=QUIET,
            raise_on_error=False,
        )
    print(result.run_id, flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
