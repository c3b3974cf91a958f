"""Invoice approval, against a real Temporal dev server: the AP desk's checklist, each example
down its path, four-eyes, a payment that is retried and pays once, and hostile invoices.

What was paid and told is read from the systems of record themselves (the payment ledger and
the notification outbox), not from what the run says it did.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.connectors.notifications import SqliteOutbox
from activities.connectors.supplier_payments import (
    PAYMENT_WRITE,
    PaymentInstruction,
    PaymentReceipt,
    SqliteSupplierPayments,
)
from activities.invoice.factory import supplier_payments_from
from activities.invoice.models import Invoice
from activities.invoice.rules import RULESET
from activities.shared import notifier_from
from sluice.activity_policy import with_policy
from sluice.config import Settings
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from tests.conftest import approval_settings, example
from tests.support import (
    decide,
    finished,
    start_run,
    starter,
    status_until,
    until_decision_needed,
    wired,
)
from workflows.invoice_approval import PROCESS

ON_FILE = {"SUP-ACME": "DE89370400440532013000", "SUP-NORD": "GB29NWBK60161331926819"}


@pytest.fixture(autouse=True)
def finance(settings: Settings) -> None:
    """The finance approvers of sluice.toml: treasury (alice, carol) for bank accounts."""
    settings.approvals["invoice_approval"] = approval_settings(
        reviewers={
            "payment_approval": ["alice", "bob", "dave"],
            "bank_account_change": ["alice", "carol"],
        }
    )


def invoice(name: str, **changes: Any) -> Invoice:
    return Invoice.model_validate({**example("invoice_approval", name), **changes})


async def start(client: Client, settings: Settings, submitted: Invoice) -> WorkflowHandle:
    return await start_run(client, settings, PROCESS, submitted)


def payments(settings: Settings) -> list[dict[str, Any]]:
    """What the payment ledger the worker writes holds."""
    hub = wired(settings, supplier_payments_from)
    assert isinstance(hub, SqliteSupplierPayments)
    return [{"invoice": e.subject, **e.detail} for e in hub.ledger.actions("payment")]


def notices(settings: Settings) -> list[Any]:
    """What the notification outbox the worker writes holds for suppliers."""
    outbox = wired(settings, notifier_from)
    assert isinstance(outbox, SqliteOutbox)
    return outbox.ledger.actions("supplier-notice")


# --- each example down its path -------------------------------------------------------------


async def test_clean_invoice_is_paid_without_a_human_and_the_supplier_gets_a_remittance(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, invoice("clean"))
        outcome = await finished(handle)
        trail = await handle.query("audit", result_type=AuditTrail)
    assert outcome.action == "paid" and outcome.decision == "not_required"
    assert outcome.rule_hits == [] and outcome.approvals_required == 0
    (paid,) = payments(settings)
    assert paid["invoice"] == "SUP-ACME-acme20260101" and paid["amount"] == "1450.00"
    assert paid["iban"] == ON_FILE["SUP-ACME"]
    assert paid["authorised_by"] == ["sluice-auto-payment"]
    (notice,) = notices(settings)
    assert notice.subject == "supplier:SUP-ACME"
    assert outcome.payment_reference in notice.detail["body"]
    # Ids and amounts only: no account number in the notice.
    assert "DE89" not in json.dumps(notice.detail) and "0130" not in json.dumps(notice.detail)
    checks = [e.summary for e in trail.of_kind("rule_check")]
    assert len(checks) == 4 and all(s.startswith(RULESET) for s in checks)


async def test_quantity_and_price_beyond_tolerance_wait_for_finance_and_a_rejection_pays_nothing(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, invoice("mismatch"))
        status = await until_decision_needed(handle)
        assert (
            await decide(handle, settings, "reject", "bob", reason="short delivery")
        ).message == "rejected"
        outcome = await finished(handle)
        trail = await handle.query("audit", result_type=AuditTrail)
    assert status.pending_decision is not None
    request = status.pending_decision.request
    assert request.kind == "payment_approval" and request.approvals_required == 1
    evidence = "\n".join(request.evidence)
    assert "[quantity_received] WIDGET-A: 100 billed, 80 received" in evidence
    assert "[unit_price] WIDGET-A: unit price 13.4, ordered at 12.50 (tolerance 2%)" in evidence
    assert outcome.action == "not_paid" and outcome.reason == "short delivery"
    assert payments(settings) == []
    (held,) = notices(settings)
    assert "not paid" in held.detail["body"] and "short delivery" not in held.detail["body"]
    hits = trail.of_kind("rule_hit")
    assert {e.detail["rule"] for e in hits} == {"quantity_received", "unit_price"}
    assert {e.detail["ruleset"] for e in hits} == {RULESET}


async def test_duplicate_invoice_waits_for_a_person_though_its_amount_is_small(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, invoice("duplicate"))
        status = await until_decision_needed(handle)
        await decide(handle, settings, "reject", "alice", reason="already paid")
        outcome = await finished(handle)
    assert status.risk_level is not None and status.risk_level.value == "high"
    assert status.pending_decision is not None
    assert any(
        e.startswith("[same_number] invoice ACME-2026-0042 of 2026-11-06 is already")
        for e in status.pending_decision.request.evidence
    )
    assert outcome.action == "not_paid" and payments(settings) == []


async def test_the_same_invoice_written_differently_is_still_a_duplicate(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        first = await start(client, settings, invoice("clean"))
        assert (await finished(first)).action == "paid"
        again = await start(client, settings, invoice("clean", invoice_number="acme 2026/0101"))
        status = await until_decision_needed(again)
    assert status.pending_decision is not None
    assert "same_number" in "\n".join(status.pending_decision.request.evidence)
    assert len(payments(settings)) == 1


async def test_changed_bank_account_always_waits_for_treasury_and_pays_the_account_on_file(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    # Even with no threshold that could ask for an approver, the change waits for a person.
    settings.invoice = {"approval_above": 10**9, "second_approval_above": 10**9}
    async with make_worker(client):
        handle = await start(client, settings, invoice("bank_account_changed"))
        status = await until_decision_needed(handle)
        with pytest.raises(WorkflowUpdateFailedError):  # a payment approver, not treasury
            await decide(handle, settings, "approve", "bob")
        assert (
            await decide(handle, settings, "approve", "alice", comment="called back")
        ).message == "approved"
        outcome = await finished(handle)
    assert status.pending_decision is not None
    request = status.pending_decision.request
    assert request.kind == "bank_account_change" and request.risk.value == "high"
    evidence = "\n".join(request.evidence)
    assert "the invoice names account GB…5432, the vendor master holds GB…6819" in evidence
    assert "GB82WEST12345698765432" not in evidence  # masked
    assert outcome.action == "paid" and outcome.decided_by == ["alice"]
    (paid,) = payments(settings)
    assert paid["iban"] == ON_FILE["SUP-NORD"]  # never the account only the invoice names


async def test_above_the_first_threshold_one_finance_approver_pays(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, invoice("above_threshold"))
        status = await until_decision_needed(handle)
        assert (await decide(handle, settings, "approve", "dave")).message == "approved"
        outcome = await finished(handle)
    assert status.pending_decision is not None
    assert status.pending_decision.request.approvals_required == 1
    assert status.pending_decision.request.risk.value == "medium"
    assert outcome.action == "paid" and outcome.decided_by == ["dave"]
    assert [p["amount"] for p in payments(settings)] == ["14400.00"]
    assert payments(settings)[0]["authorised_by"] == ["dave"]


async def test_above_the_second_threshold_two_different_signed_approvers_are_needed(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, invoice("above_second_threshold"))
        status = await until_decision_needed(handle)
        first = await decide(handle, settings, "approve", "alice")
        assert first.message == "approval recorded; 1 more reviewer(s) needed"
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            # The same person, written differently.
            await decide(handle, settings, "approve", "Alice ")
        assert payments(settings) == []
        assert (await decide(handle, settings, "approve", "bob")).message == "approved"
        outcome = await finished(handle)
    assert status.pending_decision is not None
    assert status.pending_decision.request.approvals_required == 2
    assert "different reviewers" in str(refused.value.cause)
    assert outcome.action == "paid" and sorted(outcome.decided_by) == ["alice", "bob"]
    assert sorted(payments(settings)[0]["authorised_by"]) == ["alice", "bob"]


async def test_the_clerk_who_entered_an_invoice_never_approves_it(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, invoice("above_threshold", requested_by="bob"))
        await until_decision_needed(handle)
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(handle, settings, "approve", "bob")
        assert (await decide(handle, settings, "approve", "alice")).message == "approved"
        assert (await finished(handle)).decided_by == ["alice"]


# --- pays once, fails closed ----------------------------------------------------------------


async def test_a_payment_retried_after_it_was_recorded_pays_once(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    hub = SqliteSupplierPayments(settings.data_dir / "supplier_payments.sqlite3")

    @activity.defn(name="instruct_supplier_payment")
    @with_policy(PAYMENT_WRITE)
    async def answer_lost_once(instruction: PaymentInstruction) -> PaymentReceipt:
        """The hub records the payment, then the answer is lost on the first attempt."""
        receipt = await hub.instruct(instruction)
        if activity.info().attempt == 1:
            raise ApplicationError("connection reset after the payment was recorded")
        return receipt.model_copy(update={"attempt": activity.info().attempt})

    async with make_worker(client, replacements=[answer_lost_once]):
        handle = await start(client, settings, invoice("clean"))
        outcome = await finished(handle)
        status = await handle.query("status", result_type=RunStatus)
    assert outcome.action == "paid"
    assert len(payments(settings)) == 1
    (pay_step,) = [s for s in status.steps if s.name == "Instruct payment"]
    assert pay_step.attempts == 2


async def test_an_unreachable_erp_sends_the_invoice_to_a_person_never_to_payment(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    settings.invoice = {"erp_url": "http://127.0.0.1:9/api", "http_timeout_seconds": 0.5}
    async with make_worker(client):
        handle = await start(client, settings, invoice("clean"))
        status = await status_until(
            handle, lambda s: s.pending_decision is not None, what="a decision", seconds=60
        )
        assert payments(settings) == []
        await decide(handle, settings, "reject", "alice", reason="match it by hand")
        await finished(handle)
    assert status.pending_decision is not None
    evidence = "\n".join(status.pending_decision.request.evidence)
    assert "[check_not_done] Three-way match failed" in evidence
    assert status.risk_level is not None and status.risk_level.value == "high"


# --- hostile invoices -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"total": -1450}, "total"),
        ({"total": "1" * 40}, "total"),
        ({"total": "NaN"}, "total"),
        (
            {"lines": [{"item": "WIDGET-A", "quantity": -5, "unit_price": 12.5, "amount": 1}]},
            "lines",
        ),
        ({"iban": "DE89 3704 0044 0532 0130 00\x1b[2J"}, "iban"),
        ({"iban": "DE89\u200b370400440532013000"}, "iban"),
        ({"iban": "DE00370400440532013000"}, "iban"),
        ({"invoice_number": "ACME\n0101"}, "invoice_number"),
        ({"supplier_id": "SUP-ACME' OR 1=1"}, "supplier_id"),
        ({"po_reference": ""}, "po_reference"),
        ({"approved": True}, "approved"),
    ],
)
def test_hostile_invoices_are_refused_by_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        invoice("clean", **changes)
    assert field in {str(e["loc"][0]) for e in refused.value.errors()}


async def test_the_command_line_refuses_a_hostile_invoice_naming_the_field(
    dev_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**example("invoice_approval", "clean"), "total": -5}))
    result = await starter(dev_env, settings, "start", "invoice-approval", str(bad))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "total" in result.stderr and "Traceback" not in result.stderr


def test_invoice_numbers_are_compared_without_case_spacing_or_separators() -> None:
    assert invoice("clean", invoice_number="acme 2026/0101").reference == invoice("clean").reference
    assert Decimal(invoice("clean").total) == Decimal("1450.00")
