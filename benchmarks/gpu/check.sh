#!/usr/bin/env bash
# The GPU check (issue 19): run first thing whenever a GPU is lent; --dry-run runs in CI.
#   bash benchmarks/gpu/check.sh [--dry-run] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && PY=${PYTHON:-.venv/bin/python}
exec "$PY" benchmarks/gpu/check.py "$@"
