"""Local steps: the policy load and the rule checks run as local activities, and a run still
replays exactly when people query it while those steps run.

A query answered while a local step runs makes the SDK end the workflow task with the step's
marker alone and run the code after the step in the next task; a replay runs that code in
the first. A ``workflow.patched`` asked right after such a step was then missed on replay
(TMPRL1100) and the run's workflow tasks failed. These tests query every example's run as
fast as the server answers while its automatic steps run, then replay what was recorded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.converter import ExternalStorage
from temporalio.worker import Replayer

from sluice.app.catalog import PROCESSES
from sluice.app.inputs import read_input
from sluice.app.plugin import workflow_runner
from sluice.codec import EncryptionCodec
from sluice.config import Settings
from sluice.converter import sluice_data_converter
from sluice.framework.process import RunStatus
from tests import support as run_driver
from tests.conftest import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]
LOCAL_MARKER = "core_local_activity"


def local_markers(history: WorkflowHistory) -> list[int]:
    """The event ids of the local steps' markers."""
    return [
        event.event_id
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == LOCAL_MARKER
    ]


def split_after_local_step(history: WorkflowHistory) -> bool:
    """Whether a workflow task ended with a local step's marker and the code after the step
    ran in the next task: what a query answered during the step does."""
    events = list(history.events)
    by_id = {event.event_id: index for index, event in enumerate(events)}
    for event_id in local_markers(history):
        following = events[by_id[event_id] + 1 : by_id[event_id] + 2]
        if following and following[0].HasField("workflow_task_scheduled_event_attributes"):
            return True
    return False


async def query_until_it_rests(handle: Any) -> RunStatus:
    """Ask for the status as fast as the server answers until the run waits for a person
    or has ended: every automatic step runs under queries."""

    async def asking() -> RunStatus:
        while True:
            status: RunStatus = await handle.query("status", result_type=RunStatus)
            if (
                status.state != "running"
                or status.pending_decision is not None
                or status.awaiting_input is not None
            ):
                return status

    first, _ = await asyncio.wait_for(asyncio.gather(asking(), asking()), timeout=60)
    return first


async def test_queried_runs_of_every_example_replay_with_their_local_steps(
    client: Client,
    settings: Settings,
    make_worker: Any,
    codec: EncryptionCodec,
    external_storage: ExternalStorage,
) -> None:
    histories: dict[str, WorkflowHistory] = {}
    async with make_worker(client):
        for process in PROCESSES:
            for path in sorted((EXAMPLES / process.domain).glob("*.json")):
                handle = await run_driver.start_run(
                    client, settings, process, read_input(process, path)
                )
                status = await query_until_it_rests(handle)
                histories[f"{process.command}/{path.stem}"] = await handle.fetch_history()
                if status.state == "running":
                    await handle.terminate("test done")

    replayer = Replayer(
        workflows=[process.workflow for process in PROCESSES],
        data_converter=sluice_data_converter(codec, external_storage),
        workflow_runner=workflow_runner(),
    )
    failures = {}
    for name, history in histories.items():
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[name] = str(result.replay_failure)
    assert failures == {}

    # The steps did run as local activities in every run, and the situation above happened.
    assert all(local_markers(history) for history in histories.values())
    split = [name for name, history in histories.items() if split_after_local_step(history)]
    assert split, "no run had a local step ended by a query: the test did not test the case"


def test_workflow_code_asks_for_changes_through_the_process_only() -> None:
    """``workflow.patched`` asked anywhere but at the start of a run could follow a local
    step; the process's ``patched`` is the one way workflow code asks."""
    allowed = ROOT / "sluice" / "framework" / "process.py"
    offenders = []
    for folder in ("workflows", "sluice", "tests/sample_process"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == allowed:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if "workflow.patched(" in code or "deprecate_patch(" in code:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_recorded_runs_with_local_steps_include_a_step_ended_by_a_query() -> None:
    """The replay test holds histories of runs with local steps, one of them with a step
    whose workflow task a query ended: the case above stays covered without luck."""
    recorded = sorted((ROOT / "tests" / "histories").glob("*/*.local-steps.json"))
    assert {path.parent.name for path in recorded} == {process.command for process in PROCESSES}
    split = []
    for path in recorded:
        history = WorkflowHistory.from_json("recorded", json.loads(path.read_text()))
        assert local_markers(history), path.name
        if split_after_local_step(history):
            split.append(path.name)
    assert split
