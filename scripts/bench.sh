#!/usr/bin/env bash
# Runs every benchmark against the embedded dev server and writes BENCHMARKS.md (plots in
# bench/*.png). Sets up .venv with the bench extra first (matplotlib, py-spy).
#   bash scripts/bench.sh            default sizes, about 15 minutes on 2 cores
#   bash scripts/bench.sh --full     the benchmark issue's sizes (10,000 parked runs)
#   bash scripts/bench.sh --smoke    tiny sizes, seconds
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh bench
exec .venv/bin/python -m bench.run "$@"
