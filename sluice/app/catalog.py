"""The business processes Sluice runs: one line per process, each declared beside its
workflow (``PROCESS = Process(...)``, see ``sluice.framework.declaration``). The worker
plugin, the CLI, the local runner and the tests all derive from this list."""

from __future__ import annotations

from sluice.framework import Process
from workflows import cargo_release, kyc_review, support_triage

PROCESSES: tuple[Process, ...] = (
    cargo_release.PROCESS,
    kyc_review.PROCESS,
    support_triage.PROCESS,
)

BY_COMMAND = {process.command: process for process in PROCESSES}
