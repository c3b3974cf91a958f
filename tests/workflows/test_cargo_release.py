"""Cargo release, against a real Temporal dev server: the seed's production checklist."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from temporalio.client import Client, WorkflowHandle

from activities.cargo.models import Shipment
from activities.connectors.notifications import SqliteOutbox
from activities.connectors.terminal import SqliteTerminal
from sluice.config import Settings
from tests.conftest import example
from workflows.cargo_release import CargoReleaseWorkflow
from workflows.process import RunStatus


async def start(client: Client, settings: Settings, name: str, **changes: Any) -> WorkflowHandle:
    shipment = Shipment.model_validate({**example("cargo_release", name), **changes})
    return await client.start_workflow(
        CargoReleaseWorkflow.run,
        shipment,
        id=f"cargo-{name}-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal.task_queue,
    )


async def until_waiting(handle: WorkflowHandle) -> RunStatus:
    for _ in range(200):
        status: RunStatus = await handle.query("status", result_type=RunStatus)
        if status.pending_decision is not None:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("the run never asked for a decision")


async def finished(handle: WorkflowHandle) -> Any:
    """The run's result, or a clear failure instead of a hang if it took a wrong path."""
    try:
        return await asyncio.wait_for(handle.result(), timeout=60)
    except TimeoutError:
        status = await handle.query("status", result_type=RunStatus)
        raise AssertionError(f"run did not finish: {status.model_dump_json(indent=1)}") from None


def terminal(settings: Settings) -> SqliteTerminal:
    return SqliteTerminal(settings.data_dir / "terminal.sqlite3")


async def test_clean_shipment_is_released_without_a_human(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "clean")
        outcome = await finished(handle)
    assert outcome.action == "released"
    assert outcome.decision == "not_required"
    assert outcome.rule_hits == [] and outcome.screening_hits == []
    releases = terminal(settings).ledger.actions("release")
    assert [entry.subject for entry in releases] == ["SHP-2026-0418"]
    notices = SqliteOutbox(settings.data_dir / "notifications.sqlite3").ledger.actions()
    assert [n.subject for n in notices] == ["imports@lakeside-fabrication.example"]


async def test_anomaly_then_approve_releases_cargo(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "anomaly")
        status = await until_waiting(handle)
        assert status.pending_decision is not None
        evidence = " ".join(status.pending_decision.request.evidence)
        assert "package_count_mismatch" in evidence and "weight_mismatch" in evidence
        await handle.signal("approve", {"reviewer": "alice", "comment": "short-shipped, agreed"})
        outcome = await finished(handle)
    assert outcome.action == "released"
    assert outcome.decided_by == ["alice"]
    assert len(terminal(settings).ledger.actions("release")) == 1
