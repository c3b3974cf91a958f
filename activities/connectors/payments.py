"""Payments: where an approved refund is issued.

``SqlitePayments`` is the embedded default, a refund ledger in ``payments.sqlite3``;
``HttpPayments`` talks to a payment provider's refund API. A refund is keyed by the run
(workflow id and step): a retry, a replay or a second approval never pays twice.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field
from temporalio import activity

from activities.connectors.http import HttpSystem, post_idempotent
from activities.connectors.ledger import Ledger
from sluice.activity_policy import ActivityPolicy, system_of_record_retry, with_policy
from sluice.config import ConnectorSettings
from sluice.framework.receipts import ActionReceipt

# Money moves once whatever the retries (the key sees to that); a provider that still fails
# after four attempts leaves the run failed and the reply unsent, for a human to pick up.
PAYMENT_WRITE = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=system_of_record_retry(4),
)


class RefundOrder(BaseModel):
    """An approved refund of (part of) one order."""

    order_id: str
    customer_id: str
    amount: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    idempotency_key: str
    authorised_by: list[str] = Field(min_length=1)
    ticket_id: str


class RefundReceipt(ActionReceipt):
    order_id: str
    amount: Decimal
    currency: str


class Payments(Protocol):
    async def refund(self, order: RefundOrder) -> RefundReceipt: ...


class SqlitePayments:
    """Embedded payments: refunds recorded once each in ``payments.sqlite3``."""

    def __init__(self, path: Path) -> None:
        self.ledger = Ledger(path, "refund")

    async def refund(self, order: RefundOrder) -> RefundReceipt:
        entry = await self.ledger.record(
            order.idempotency_key,
            "refund",
            order.order_id,
            {
                "amount": str(order.amount),
                "currency": order.currency,
                "customer_id": order.customer_id,
                "ticket_id": order.ticket_id,
                "authorised_by": order.authorised_by,
            },
        )
        # A repeat returns what was paid the first time, not what this call asked for.
        return RefundReceipt.recorded(
            entry,
            order_id=entry.subject,
            amount=Decimal(entry.detail["amount"]),
            currency=entry.detail["currency"],
        )


class HttpPayments(HttpSystem):
    """A payment provider's refund API (``POST /refunds``)."""

    async def refund(self, order: RefundOrder) -> RefundReceipt:
        answer = await post_idempotent(
            self.base_url,
            "refunds",
            order.model_dump(mode="json"),
            key=order.idempotency_key,
            timeout_seconds=self.timeout_seconds,
        )
        return RefundReceipt.answered(
            answer,
            order.idempotency_key,
            order_id=order.order_id,
            amount=order.amount,
            currency=order.currency,
        )


def payments_from_settings(connectors: ConnectorSettings, data_dir: Path) -> Payments:
    """The HTTP payment provider when a URL is configured, otherwise the embedded ledger."""
    if connectors.payments_url:
        return HttpPayments(connectors.payments_url, connectors.http_timeout_seconds)
    return SqlitePayments(data_dir / "payments.sqlite3")


class PaymentActivities:
    def __init__(self, payments: Payments) -> None:
        self.payments = payments

    @activity.defn(name="issue_refund")
    @with_policy(PAYMENT_WRITE)
    async def issue_refund(self, order: RefundOrder) -> RefundReceipt:
        """Refund the order (once per key, whatever the retries)."""
        receipt = await self.payments.refund(order)
        return receipt.model_copy(update={"attempt": activity.info().attempt})
