"""No response: the gate escalates at the SLA and takes the safe path at the final timeout.
Hours pass in seconds on the time-skipping test server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from temporalio.testing import WorkflowEnvironment

from activities.cargo.factory import terminal_from
from activities.cargo.models import Shipment
from activities.shared import notifier_from
from sluice.config import Settings
from sluice.framework.audit import AuditTrail
from tests.conftest import example
from tests.support import until_decision_needed, wired
from workflows.cargo_release import CargoReleaseWorkflow


async def test_unanswered_anomaly_escalates_then_holds_the_cargo(
    time_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    client = time_env.client
    async with make_worker(client):
        handle = await client.start_workflow(
            CargoReleaseWorkflow.run,
            Shipment.model_validate(example("cargo_release", "anomaly")),
            id=f"cargo-timeout-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.task_queue,
        )
        await until_decision_needed(handle)
        outcome = await handle.result()
        trail = await handle.query("audit", result_type=AuditTrail)

    assert outcome.action == "held"
    assert outcome.decision == "timed_out"
    kinds = [event.kind for event in trail.events]
    assert kinds.index("escalated") < kinds.index("decision")
    assert "approve" not in " ".join(e.summary for e in trail.of_kind("decision"))

    releases = wired(settings, terminal_from).ledger.actions("release")
    holds = wired(settings, terminal_from).ledger.actions("hold")
    assert releases == [] and [h.subject for h in holds] == ["SHP-2026-0419"]
    escalations = wired(settings, notifier_from).ledger.actions("escalation")
    assert [e.subject for e in escalations] == ["duty-manager"]
