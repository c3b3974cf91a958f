#!/usr/bin/env bash
# The main job on one machine: set up .venv, start the embedded Temporal dev server (state in
# var/temporal.sqlite, Web UI on http://localhost:8233), the worker, and the sample runs.
# Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python worker.py --dev --examples "$@"
