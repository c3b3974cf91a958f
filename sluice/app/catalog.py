"""The business processes Sluice runs: one line per process, each declared beside its
workflow (``PROCESS = Process(...)``, see ``sluice.framework.declaration``). The worker
plugin, the CLI, the local runner and the tests all derive from this list.

Processes kept in a package of your own are added without editing this file, by naming
their modules in ``SLUICE_PROCESSES`` (comma-separated; each module holds a ``PROCESS``).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from sluice.config import Settings
from sluice.framework import Process
from workflows import cargo_release, invoice_approval, kyc_review, support_triage

BUILT_IN: tuple[Process[Any], ...] = (
    cargo_release.PROCESS,
    kyc_review.PROCESS,
    support_triage.PROCESS,
    invoice_approval.PROCESS,
)

PROCESSES_VARIABLE = "SLUICE_PROCESSES"


def declared_in(modules: str) -> tuple[Process[Any], ...]:
    """The processes the named modules declare; one line and exit code 1 for a module that
    does not import or declares no process (the variable is the operator's, not a user's)."""
    found = []
    for name in filter(None, (part.strip() for part in modules.split(","))):
        try:
            declared = getattr(importlib.import_module(name), "PROCESS", None)
        except ImportError as err:
            raise SystemExit(f"error: {PROCESSES_VARIABLE}: cannot import {name}: {err}") from None
        if not isinstance(declared, Process):
            raise SystemExit(f"error: {PROCESSES_VARIABLE}: {name} declares no PROCESS")
        found.append(declared)
    return tuple(found)


def checked(processes: tuple[Process[Any], ...]) -> tuple[Process[Any], ...]:
    """The list, refused if two processes share a command, a domain or a workflow type."""
    for key in ("command", "domain", "workflow_type"):
        values = [getattr(process, key) for process in processes]
        twice = sorted({value for value in values if values.count(value) > 1})
        if twice:
            raise SystemExit(f"error: two processes declare the same {key}: {', '.join(twice)}")
    return processes


def check_sections(settings: Settings) -> Settings:
    """``settings``, once every declared process's own section reads (one ``ConfigError``
    naming the section and field otherwise), so a worker refuses a bad section at start."""
    for process in PROCESSES:
        process.section(settings)
    return settings


PROCESSES = checked(BUILT_IN + declared_in(os.environ.get(PROCESSES_VARIABLE, "")))

BY_COMMAND = {process.command: process for process in PROCESSES}
