#!/usr/bin/env bash
# Creates .venv and installs the project into it, with the embedded Temporal dev server
# ([dev-server]); with the test tools too when called with "dev".
# Re-running is cheap: nothing is reinstalled unless pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-dev-server}"
python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($python_bin --version)"
    "$python_bin" -m venv .venv
fi
stamp=".venv/.sluice-installed${extras:+-$extras}"
wanted="$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    echo "installing Sluice${extras:+ with [$extras] extras} into .venv (first run takes a minute)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    # The distribution was called "sluice" before (a name taken on the package index): an
    # install under the old name would sit beside the new one.
    if .venv/bin/python -m pip show --quiet sluice >/dev/null 2>&1; then
        .venv/bin/python -m pip uninstall --quiet --yes sluice
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
    echo "$wanted" > "$stamp"
fi
