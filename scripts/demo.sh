#!/usr/bin/env bash
# Set up (first run only) and run the demo cohort end to end on the embedded SmolLM2 model:
# no API key, no network beyond package installs. Extra arguments go to `daydream run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/daydream run --data-root data "$@"
