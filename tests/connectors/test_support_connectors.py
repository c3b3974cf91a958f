"""The support triage systems of record: the demo CRM, the help desk and payments, embedded
(real SQLite files) and over HTTP (against a loopback stub)."""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.connectors.crm import CustomerLookup, HttpCrm, SqliteCrm
from activities.connectors.http import SYSTEM_REJECTED, SYSTEM_UNAVAILABLE
from activities.connectors.payments import HttpPayments, RefundOrder, SqlitePayments
from activities.connectors.ticketing import (
    HttpTicketing,
    QueueAssignment,
    SqliteTicketing,
    TicketReply,
)
from tests.stubs.system_of_record import SystemOfRecordStub


def refund_order(key: str, amount: str = "39.90") -> RefundOrder:
    return RefundOrder(
        order_id="ORD-50211",
        customer_id="CUST-1001",
        amount=Decimal(amount),
        currency="EUR",
        idempotency_key=key,
        authorised_by=["bob"],
        ticket_id="TCK-2002",
    )


def reply(key: str, body: str = "Dear Laura, ...") -> TicketReply:
    return TicketReply(
        ticket_id="TCK-2002",
        customer_id="CUST-1001",
        language="en",
        body=body,
        idempotency_key=key,
        approved_by=["bob"],
    )


# --- CRM -----------------------------------------------------------------------------------


async def test_demo_crm_knows_a_customer_with_orders_and_past_tickets(tmp_path: Path) -> None:
    crm = SqliteCrm(tmp_path / "crm.sqlite3")
    history = await crm.history(CustomerLookup(customer_id="CUST-1002", order_id="ORD-50412"))

    assert history.known and history.full_name == "Jonas Weber"
    assert history.preferred_language == "de"
    assert history.lifetime_spend == Decimal("3480.40")
    assert [o.order_id for o in history.orders] == ["ORD-50412", "ORD-50120"]
    assert {t.ticket_id for t in history.past_tickets} == {"TCK-88740", "TCK-89105"}
    assert history.referenced_order is not None
    assert history.referenced_order.refundable == Decimal("899.00")


async def test_demo_crm_never_hands_out_another_customers_order(tmp_path: Path) -> None:
    crm = SqliteCrm(tmp_path / "crm.sqlite3")
    history = await crm.history(CustomerLookup(customer_id="CUST-1001", order_id="ORD-50412"))

    assert history.known and history.referenced_order is None


async def test_demo_crm_treats_an_unknown_customer_as_a_new_contact(tmp_path: Path) -> None:
    crm = SqliteCrm(tmp_path / "crm.sqlite3")
    history = await crm.history(CustomerLookup(customer_id="CUST-9999", order_id="ORD-50211"))

    assert not history.known
    assert history.orders == [] and history.referenced_order is None


async def test_reopening_the_demo_crm_does_not_duplicate_the_seed(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite3"
    SqliteCrm(path)
    crm = SqliteCrm(path)
    history = await crm.history(CustomerLookup(customer_id="CUST-1001"))

    assert len(history.orders) == 3


async def test_http_crm_reads_the_history_and_keeps_only_the_named_order() -> None:
    order = {
        "order_id": "ORD-7",
        "placed_at": "2026-03-01",
        "status": "delivered",
        "items": "1 × Kettle",
        "total": "49.00",
        "currency": "EUR",
    }
    with SystemOfRecordStub() as stub:
        stub.answer(
            "/customers/CUST-1/history",
            200,
            {
                "customer_id": "CUST-1",
                "full_name": "Ada",
                "orders": [order],
                "referenced_order": order,
            },
        )
        crm = HttpCrm(stub.url)
        named = await crm.history(CustomerLookup(customer_id="CUST-1", order_id="ORD-7"))
        other = await crm.history(CustomerLookup(customer_id="CUST-1", order_id="ORD-8"))
        queries = [request.query for request in stub.requests]

    assert named.known and named.referenced_order is not None
    assert named.referenced_order.total == Decimal("49.00")
    assert other.referenced_order is None
    assert queries == [{"order_id": ["ORD-7"]}, {"order_id": ["ORD-8"]}]


async def test_http_crm_404_is_a_new_contact() -> None:
    with SystemOfRecordStub() as stub:
        history = await HttpCrm(stub.url).history(CustomerLookup(customer_id="CUST-404"))

    assert not history.known and history.customer_id == "CUST-404"


async def test_http_crm_503_is_retryable() -> None:
    with SystemOfRecordStub() as stub:
        stub.fail_with(503)
        with pytest.raises(ApplicationError) as failure:
            await HttpCrm(stub.url).history(CustomerLookup(customer_id="CUST-1"))

    assert failure.value.type == SYSTEM_UNAVAILABLE and not failure.value.non_retryable


async def test_http_crm_on_a_closed_port_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ApplicationError) as failure:
        await HttpCrm(f"http://127.0.0.1:{port}", 2).history(CustomerLookup(customer_id="C-1"))

    assert failure.value.type == SYSTEM_UNAVAILABLE and "unreachable" in failure.value.message


async def test_http_crm_answering_for_another_customer_is_refused() -> None:
    with SystemOfRecordStub() as stub:
        stub.answer("/customers/CUST-1/history", 200, {"customer_id": "CUST-2"})
        with pytest.raises(ApplicationError) as failure:
            await HttpCrm(stub.url).history(CustomerLookup(customer_id="CUST-1"))

    assert failure.value.type == SYSTEM_REJECTED and failure.value.non_retryable


# --- ticketing -----------------------------------------------------------------------------


async def test_a_reply_is_sent_once_per_key(tmp_path: Path) -> None:
    desk = SqliteTicketing(tmp_path / "ticketing.sqlite3")
    first = await desk.reply(reply("run-1:reply"))
    again = await desk.reply(reply("run-1:reply", body="a different body"))

    assert not first.duplicate and again.duplicate
    assert again.reference == first.reference
    (sent,) = desk.ledger.actions("reply")
    assert sent.detail["body"] == "Dear Laura, ..."


async def test_route_and_hand_over_are_kept_apart(tmp_path: Path) -> None:
    desk = SqliteTicketing(tmp_path / "ticketing.sqlite3")
    base = {"ticket_id": "TCK-1", "reason": "test"}
    await desk.assign(QueueAssignment(queue="billing", idempotency_key="r:route", **base), "route")
    await desk.assign(
        QueueAssignment(queue="human-review", idempotency_key="r:handoff", draft="Hi", **base),
        "handoff",
    )

    assert [e.detail["queue"] for e in desk.ledger.actions("route")] == ["billing"]
    (handoff,) = desk.ledger.actions("handoff")
    assert handoff.detail == {"queue": "human-review", "reason": "test", "draft": "Hi"}


async def test_http_ticketing_posts_with_the_idempotency_key() -> None:
    with SystemOfRecordStub() as stub:
        stub.answer("/tickets/TCK-2002/replies", 201, {"reference": "HD-77", "duplicate": False})
        receipt = await HttpTicketing(stub.url).reply(reply("run-1:reply"))
        (request,) = stub.requests

    assert receipt.reference == "HD-77"
    assert request.headers["idempotency-key"] == "run-1:reply"
    assert request.body["body"] == "Dear Laura, ..."


# --- payments ------------------------------------------------------------------------------


async def test_a_refund_is_paid_once_per_key_at_the_first_amount(tmp_path: Path) -> None:
    payments = SqlitePayments(tmp_path / "payments.sqlite3")
    first = await payments.refund(refund_order("run-1:refund"))
    again = await payments.refund(refund_order("run-1:refund", amount="5000.00"))

    assert not first.duplicate and again.duplicate
    assert again.amount == Decimal("39.90") and again.reference == first.reference
    assert len(payments.ledger.actions("refund")) == 1


async def test_http_payments_refused_refund_is_not_retried() -> None:
    with SystemOfRecordStub() as stub:
        stub.fail_with(422)
        with pytest.raises(ApplicationError) as failure:
            await HttpPayments(stub.url).refund(refund_order("run-1:refund"))
        (request,) = stub.requests

    assert failure.value.type == SYSTEM_REJECTED and failure.value.non_retryable
    assert request.path == "/refunds" and request.headers["idempotency-key"] == "run-1:refund"
