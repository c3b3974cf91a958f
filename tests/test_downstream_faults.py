"""Systems of record that fail: pointed by configuration at a system that answers 5xx, is
too slow, or refuses connections, a run retries with backoff, then either succeeds once the
system recovers (acting once) or ends clearly, keeping track of what already happened."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.cargo.factory import terminal_from
from activities.cargo.models import Shipment
from activities.shared import notifier_from
from sluice.config import Settings
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from tests.conftest import example
from tests.stubs.system_of_record import SystemOfRecordStub
from tests.support import finished, wired
from tests.workflows.test_cargo_release import closed_port
from workflows.cargo_release import CargoReleaseWorkflow

RELEASE_PATH = "/shipments/SHP-2026-0418/release"


@pytest.fixture
def terminal_system() -> Iterator[SystemOfRecordStub]:
    with SystemOfRecordStub() as stub:
        stub.answer(RELEASE_PATH, 200, {"reference": "TOS-55120", "duplicate": False})
        yield stub


async def run_clean_shipment(client: Client, settings: Settings) -> Any:
    return await client.start_workflow(
        CargoReleaseWorkflow.run,
        Shipment.model_validate(example("cargo_release", "clean")),
        id=f"downstream-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal.task_queue,
    )


async def test_terminal_outage_is_ridden_out_and_the_cargo_released_once(
    client: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    terminal_system: SystemOfRecordStub,
) -> None:
    settings.connectors.terminal_url = terminal_system.url
    terminal_system.fail_next(2, 503)
    async with make_worker(client):
        handle = await run_clean_shipment(client, settings)
        outcome = await finished(handle)
        trail = await handle.query("audit", result_type=AuditTrail)
    assert outcome.action == "released" and outcome.terminal_reference == "TOS-55120"
    releases = [r for r in terminal_system.requests if r.path == RELEASE_PATH]
    assert len(releases) == 3
    assert {r.headers["idempotency-key"] for r in releases} == {f"{handle.id}:release"}
    assert any("Release cargo succeeded on attempt 3" in e.summary for e in trail.of_kind("retry"))


async def test_terminal_too_slow_fails_the_run_clearly_and_tells_nobody(
    client: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    terminal_system: SystemOfRecordStub,
) -> None:
    settings.connectors.terminal_url = terminal_system.url
    settings.connectors.http_timeout_seconds = 0.2
    terminal_system.delay_seconds = 1.0
    async with make_worker(client):
        handle = await run_clean_shipment(client, settings)
        with pytest.raises(WorkflowFailureError) as failure:
            await finished(handle)
        status = await handle.query("status", result_type=RunStatus)
    assert "Release cargo failed" in str(failure.value.cause)
    assert "Timeout" in str(failure.value.cause)
    assert status.state == "failed"
    assert wired(settings, notifier_from).ledger.actions() == []


async def test_release_recorded_but_notifier_down_finishes_with_the_notice_left_for_follow_up(
    time_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    settings.connectors.notifications_url = f"http://127.0.0.1:{closed_port()}"
    client = time_env.client
    async with make_worker(client):
        handle = await run_clean_shipment(client, settings)
        outcome = await handle.result()
        trail = await handle.query("audit", result_type=AuditTrail)
    assert outcome.action == "released"
    assert outcome.undelivered_notices == ["consignee", "notify party"]
    terminal = wired(settings, terminal_from).ledger.actions()
    assert [(t.action, t.subject) for t in terminal] == [("release", "SHP-2026-0418")]
    follow_ups = [e.summary for e in trail.of_kind("action") if "NOT notified" in e.summary]
    assert len(follow_ups) == 2
    failures = [e.summary for e in trail.of_kind("failure")]
    assert any("Notify consignee failed" in f and "unreachable" in f for f in failures)
