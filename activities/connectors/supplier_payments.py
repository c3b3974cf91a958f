"""Supplier payments: where an approved invoice becomes a payment instruction to the bank.

``SqliteSupplierPayments`` is the embedded default, a payment ledger in
``supplier_payments.sqlite3``; ``HttpSupplierPayments`` posts to a payment hub's API. An
instruction is keyed by the run (workflow id and step) under a UNIQUE constraint: a retry, a
replay or a second approval never pays twice.
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
from sluice.framework.receipts import ActionReceipt

# Money moves once whatever the retries (the key sees to that); a hub that still fails after
# four attempts leaves the run failed and the invoice unpaid, for the AP desk to pick up.
PAYMENT_WRITE = ActivityPolicy(
    start_to_close=timedelta(seconds=30), retry=system_of_record_retry(4)
)


class PaymentInstruction(BaseModel):
    """An approved payment of one invoice, to the account the vendor master holds."""

    supplier_id: str
    invoice_reference: str
    amount: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    iban: str
    idempotency_key: str
    authorised_by: list[str] = Field(min_length=1)


class PaymentReceipt(ActionReceipt):
    """The payment as instructed (the first time, for a repeat)."""

    invoice_reference: str
    amount: Decimal
    currency: str


class SupplierPayments(Protocol):
    async def instruct(self, instruction: PaymentInstruction) -> PaymentReceipt: ...


class SqliteSupplierPayments:
    """Embedded payments: instructions recorded once each in ``supplier_payments.sqlite3``."""

    def __init__(self, path: Path) -> None:
        self.ledger = Ledger(path, "pay")

    async def instruct(self, instruction: PaymentInstruction) -> PaymentReceipt:
        entry = await self.ledger.record(
            instruction.idempotency_key,
            "payment",
            instruction.invoice_reference,
            {
                "supplier_id": instruction.supplier_id,
                "amount": str(instruction.amount),
                "currency": instruction.currency,
                "iban": instruction.iban,
                "authorised_by": instruction.authorised_by,
            },
        )
        # A repeat returns what was paid the first time, not what this call asked for.
        return PaymentReceipt.recorded(
            entry,
            invoice_reference=entry.subject,
            amount=Decimal(entry.detail["amount"]),
            currency=entry.detail["currency"],
        )


class HttpSupplierPayments(HttpSystem):
    """A payment hub's API (``POST /payments``)."""

    async def instruct(self, instruction: PaymentInstruction) -> PaymentReceipt:
        answer = await post_idempotent(
            self.base_url,
            "payments",
            instruction.model_dump(mode="json"),
            key=instruction.idempotency_key,
            timeout_seconds=self.timeout_seconds,
        )
        return PaymentReceipt.answered(
            answer,
            instruction.idempotency_key,
            invoice_reference=instruction.invoice_reference,
            amount=instruction.amount,
            currency=instruction.currency,
        )


class SupplierPaymentActivities:
    def __init__(self, payments: SupplierPayments) -> None:
        self.payments = payments

    @activity.defn(name="instruct_supplier_payment")
    @with_policy(PAYMENT_WRITE)
    async def instruct_supplier_payment(self, instruction: PaymentInstruction) -> PaymentReceipt:
        """Instruct the payment (once per key, whatever the retries)."""
        receipt = await self.payments.instruct(instruction)
        return receipt.model_copy(update={"attempt": activity.info().attempt})
