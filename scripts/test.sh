#!/usr/bin/env bash
# The whole test suite, as CI runs it: set up .venv with the test tools, then lint, format
# check, type check and pytest against real Temporal servers from the installed packages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
bash scripts/browser.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy sluice workflows activities worker.py starter.py
.venv/bin/python -m pytest "$@"
