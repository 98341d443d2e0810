#!/usr/bin/env bash
# Prepare a persistent Dagster instance for DayDreaming: copy deploy/dagster.yaml (SQLite, default)
# or deploy/dagster-postgres.yaml into DAGSTER_HOME (default: ./.dagster, git-ignored) and set the
# LLM pools' limits in it. Idempotent; a different existing dagster.yaml is kept as dagster.yaml.bak.
#
#   bash scripts/dagster_home.sh                       # SQLite in ./.dagster
#   DAGSTER_PG_URL=postgresql+psycopg2://user:pw@host:5432/db bash scripts/dagster_home.sh postgres
#   DD_POOL_LIMITS="llm/openrouter=4 llm/local=1" bash scripts/dagster_home.sh
#
# Then, in every shell that runs Dagster or `daydream run`:
#   export DAGSTER_HOME=$PWD/.dagster
#   .venv/bin/dagster dev                 # the UI and the daemon
set -euo pipefail
cd "$(dirname "$0")/.."
variant="${1:-sqlite}"
home="$(realpath -m "${DAGSTER_HOME:-$PWD/.dagster}")"
case "$variant" in
  sqlite) src=deploy/dagster.yaml ;;
  postgres)
    src=deploy/dagster-postgres.yaml
    : "${DAGSTER_PG_URL:?set DAGSTER_PG_URL=postgresql+psycopg2://user:password@host:5432/database}"
    ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
if [ ! -x .venv/bin/python ]; then
  echo "no .venv: run bash scripts/bootstrap.sh first" >&2
  exit 2
fi
mkdir -p "$home"
if [ -f "$home/dagster.yaml" ] && ! cmp -s "$src" "$home/dagster.yaml"; then
  cp "$home/dagster.yaml" "$home/dagster.yaml.bak"
fi
cp "$src" "$home/dagster.yaml"
# Per-pool limits live in the instance, not in dagster.yaml (Dagster 1.13); this is what
# `dagster instance concurrency set POOL N` does, for all pools in one process.
DAGSTER_HOME="$home" .venv/bin/python - ${DD_POOL_LIMITS:-llm/openrouter=8 llm/openai_compatible=8 llm/local=1} <<'PY'
import sys

from dagster import DagsterInstance

from daydreaming_dagster.resources.pool_gate import set_pool_limits

limits = {spec.split("=")[0]: int(spec.split("=")[1]) for spec in sys.argv[1:]}
with DagsterInstance.get() as instance:
    set_pool_limits(instance, limits)
    pools = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
print("pool limits:", ", ".join(f"{name}={limit}" for name, limit in sorted(pools.items())))
PY
echo "DAGSTER_HOME=$home is ready ($variant). In each shell: export DAGSTER_HOME=$home"
