"""Cargo release, against a real Temporal dev server: the seed's production checklist."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)

from activities.cargo.extraction import CargoDocumentActivities
from activities.cargo.factory import terminal_from
from activities.cargo.models import Shipment
from activities.model_gateway import ModelAnswer, ModelCall, ModelGateway
from activities.shared import notifier_from
from sluice import search_attributes as sa
from sluice.config import Settings
from sluice.framework.approval import DecisionInput, DecisionReceipt
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from tests.conftest import example
from tests.support import (
    finished,
    listed_with,
    signed,
    signed_signal,
    start_run,
    until_decision_needed,
    wired,
)
from workflows import cargo_release


async def start(client: Client, settings: Settings, name: str, **changes: Any) -> WorkflowHandle:
    shipment = Shipment.model_validate({**example("cargo_release", name), **changes})
    return await start_run(client, settings, cargo_release.PROCESS, shipment)


async def test_clean_shipment_is_released_without_a_human(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "clean")
        outcome = await finished(handle)
    assert outcome.action == "released"
    assert outcome.decision == "not_required"
    assert outcome.rule_hits == [] and outcome.screening_hits == []
    releases = wired(settings, terminal_from).ledger.actions("release")
    assert [entry.subject for entry in releases] == ["SHP-2026-0418"]
    notices = wired(settings, notifier_from).ledger.actions()
    assert notices[0].subject == "imports@lakeside-fabrication.example"


async def test_anomaly_then_approve_releases_cargo(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "anomaly")
        status = await until_decision_needed(handle)
        assert status.pending_decision is not None
        evidence = " ".join(status.pending_decision.request.evidence)
        assert "package_count_mismatch" in evidence and "weight_mismatch" in evidence
        await handle.signal(
            "approve",
            await signed_signal(handle, settings, "alice", comment="short-shipped, agreed"),
        )
        outcome = await finished(handle)
    assert outcome.action == "released"
    assert outcome.decided_by == ["alice"]
    assert len(wired(settings, terminal_from).ledger.actions("release")) == 1


async def test_anomaly_then_reject_puts_cargo_on_hold(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "anomaly")
        await until_decision_needed(handle)
        await handle.signal(
            "reject",
            await signed_signal(
                handle, settings, "bob", "reject", reason="packing list contradicts BL"
            ),
        )
        outcome = await finished(handle)
        trail = await handle.query("audit", result_type=AuditTrail)
    assert outcome.action == "held" and outcome.decision == "rejected"
    assert wired(settings, terminal_from).ledger.actions("release") == []
    assert [h.subject for h in wired(settings, terminal_from).ledger.actions("hold")] == [
        "SHP-2026-0419"
    ]
    decision = trail.of_kind("decision")[-1]
    assert decision.actor == "bob" and decision.detail["reason"] == "packing list contradicts BL"
    notice = wired(settings, notifier_from).ledger.actions()[0]
    assert "on hold" in notice.detail["body"]


class GarbledModel:
    """A provider whose answers never fit the schema (a model having a bad day)."""

    name = "garbled"

    async def chat_json(self, call: ModelCall, schema: type[BaseModel]) -> ModelAnswer:
        return ModelAnswer(
            provider=self.name,
            model="garbled-1",
            content='{"document_kind": "bill_of_lading", "gross_weight_kg": "quite heavy"}',
        )


async def test_malformed_model_output_goes_to_a_human_not_to_release(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    garbled = CargoDocumentActivities(ModelGateway(GarbledModel()))
    async with make_worker(client, replacements=[garbled.extract_document]):
        handle = await start(client, settings, "clean")
        status = await until_decision_needed(handle)
        assert wired(settings, terminal_from).ledger.actions("release") == []
        assert status.pending_decision is not None
        evidence = status.pending_decision.request.evidence
        assert any("could not read the bill_of_lading" in item for item in evidence)
        trail = await handle.query("audit", result_type=AuditTrail)
        failures = [e.summary for e in trail.of_kind("failure")]
        assert any("does not match DocumentFields" in f for f in failures)
        await handle.signal(
            "approve",
            await signed_signal(handle, settings, "carol", comment="read the papers myself"),
        )
        outcome = await finished(handle)
    assert outcome.action == "released" and outcome.decided_by == ["carol"]


async def test_terminal_down_retries_then_fails_clearly_with_nothing_released(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    settings.connectors.terminal_url = f"http://127.0.0.1:{closed_port()}"
    async with make_worker(client):
        handle = await start(client, settings, "clean")
        with pytest.raises(WorkflowFailureError) as failure:
            await finished(handle)
        status = await handle.query("status", result_type=RunStatus)
    assert "Release cargo failed" in str(failure.value.cause)
    assert "unreachable" in str(failure.value.cause)
    assert status.state == "failed" and status.failure and "unreachable" in status.failure
    release = next(step for step in status.steps if step.name == "Release cargo")
    assert release.status == "failed"
    # Nothing downstream of the failed release happened: the consignee was not told.
    assert wired(settings, notifier_from).ledger.actions() == []


async def test_worker_stopped_while_waiting_and_a_new_worker_resumes(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "anomaly")
        await until_decision_needed(handle)
        approval = await signed_signal(handle, settings, "alice")
    # No worker now: the decision is recorded by the server and waits for one.
    await handle.signal("approve", approval)
    async with make_worker(client, max_cached_workflows=0):
        outcome = await finished(handle)
    assert outcome.action == "released"
    assert len(wired(settings, terminal_from).ledger.actions("release")) == 1


async def test_duplicate_approval_does_not_release_twice(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "anomaly")
        await until_decision_needed(handle)
        decisions = [await signed_signal(handle, settings, r) for r in ("alice", "alice", "bob")]
        for decision in decisions:
            await handle.signal("approve", decision)
        outcome = await finished(handle)
        trail = await handle.query("audit", result_type=AuditTrail)
    assert outcome.decided_by == ["alice"]
    assert len(wired(settings, terminal_from).ledger.actions("release")) == 1
    refused = [e for e in trail.of_kind("decision_refused")]
    assert [e.actor for e in refused] == ["alice", "bob"]
    assert all("already decided" in e.summary for e in refused)


async def test_unauthorised_reviewer_is_refused_and_the_run_keeps_waiting(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "anomaly")
        await until_decision_needed(handle)
        await handle.signal("approve", await signed_signal(handle, settings, "dave"))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                "decide", DecisionInput(verdict="approve", reviewer="ops-portal")
            )
        status = await handle.query("status", result_type=RunStatus)
        trail = await handle.query("audit", result_type=AuditTrail)
        assert status.pending_decision is not None
        # The requester has no reviewer key: refused before anything else is looked at.
        assert "unsigned decision" in str(refused.value.cause)
        dave = trail.of_kind("decision_refused")
        assert [e.actor for e in dave] == ["dave"]
        assert "not allowed to decide 'customs_release'" in dave[0].summary
        receipt = await handle.execute_update(
            "decide", await signed(handle, settings, "alice"), result_type=DecisionReceipt
        )
        assert receipt.accepted and receipt.decision and receipt.decision.outcome == "approved"
        assert (await finished(handle)).action == "released"


async def test_runs_are_findable_in_visibility_without_personal_data(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "anomaly")
        await until_decision_needed(handle)
        attributes = await listed_with(handle, sa.APPROVAL_STATUS, "Pending")
        assert attributes.get(sa.DOMAIN) == "cargo_release"
        assert attributes.get(sa.RISK_LEVEL) == "medium"
        assert attributes.get(sa.DECISION_NEEDED) == "customs_release"
        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        await finished(handle)
        description = await handle.describe()
    assert description.typed_search_attributes.get(sa.APPROVAL_STATUS) == "Approved"
    shown = " ".join(str(v) for v in description.typed_search_attributes)
    assert "Northgate" not in shown and "northgate-foods" not in shown


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_new_runs_notify_the_notify_party_too(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "clean")
        await finished(handle)
    notices = wired(settings, notifier_from).ledger.actions()
    assert [n.subject for n in notices] == [
        "imports@lakeside-fabrication.example",
        "Brightwater Customs Brokers",
    ]
