"""Safe changes to workflow code: the recorded histories of real runs of every example
(``tests/histories``, made by ``python -m tests.histories.record``) must replay against the
current code. A change that would break a run already in flight fails here, not in
production; make it with ``workflow.patched`` instead (see the cargo workflow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from sluice.app.catalog import PROCESSES
from sluice.app.plugin import workflow_runner
from sluice.converter import sluice_data_converter

HISTORIES = Path(__file__).resolve().parent / "histories"
RECORDED = sorted(HISTORIES.glob("*/*.json"))


def test_every_process_has_recorded_histories() -> None:
    recorded = {path.parent.name for path in RECORDED}
    assert recorded == {process.command for process in PROCESSES}


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_recorded_history_replays_against_current_code(path: Path) -> None:
    # The workflow id the recorder gave the run: a signed decision names it, and is refused
    # (so the run takes another path) under any other id.
    example = path.name.split(".")[0]  # clean.json, clean.local-steps.json: the same run id
    history = WorkflowHistory.from_json(f"history-{path.parent.name}-{example}", path.read_text())
    replayer = Replayer(
        workflows=[process.workflow for process in PROCESSES],
        data_converter=sluice_data_converter(),
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_the_same_change_without_a_patch_would_break_runs_in_flight() -> None:
    """The guard is what makes the notify-party change safe: without it, a run recorded
    before the change no longer replays."""
    from tests.unguarded_change import UnguardedCargoRelease

    path = HISTORIES / "cargo-release" / "clean.json"
    history = WorkflowHistory.from_json("cargo-release-clean", path.read_text())
    replayer = Replayer(
        workflows=[UnguardedCargoRelease],
        data_converter=sluice_data_converter(),
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert (
        "Nondeterminism" in type(result.replay_failure).__name__
        or "nondetermin" in str(result.replay_failure).lower()
    )
