#!/usr/bin/env bash
# The inbox's browser tests drive Debian's chromium (tests/inbox). Installs it when it is
# missing and apt-get is there (as root in CI, or through sudo without a password prompt);
# otherwise says what to install. Nothing is downloaded by Playwright itself.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and there is no apt-get: install chromium for the browser tests" >&2
    exit 0
fi
if [ "$(id -u)" = "0" ]; then
    as_root=()
elif sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "chromium is missing: sudo apt-get install chromium (the browser tests need it)" >&2
    exit 0
fi
echo "installing Debian's chromium for the inbox's browser tests"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq </dev/null
"${as_root[@]}" apt-get install -y -qq chromium </dev/null >/dev/null
