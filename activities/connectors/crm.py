"""The CRM: who the customer is, what they ordered and what they asked before.

``SqliteCrm`` is the embedded default, seeded on first use with fictional demo customers,
orders and past tickets (``data/crm_seed.sql``). ``HttpCrm`` reads a CRM's HTTP API. A
customer the CRM does not know is an answer (a new contact), not an error; a CRM that cannot
be reached is an error the retry policy rides out and then reports.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field
from temporalio import activity

from activities.connectors.http import HttpSystem, get_json, refuse_other_record
from activities.connectors.ledger import open_seeded
from sluice.activity_policy import ActivityPolicy, system_of_record_retry, with_policy
from sluice.config import ConnectorSettings

SEED_FILE = Path(__file__).resolve().parent / "data" / "crm_seed.sql"
RECENT = 10

# A read: cheap to repeat. Four attempts ride out a CRM restart; after that the run stops
# visibly instead of drafting a reply without the customer's history.
CRM_READ = ActivityPolicy(
    start_to_close=timedelta(seconds=20),
    retry=system_of_record_retry(4, longest_wait=timedelta(seconds=10)),
)


class OrderRecord(BaseModel):
    """One order as the CRM holds it: the only source of a refund amount."""

    order_id: str
    placed_at: date
    status: Literal["processing", "shipped", "delivered", "cancelled", "returned"]
    delivered_at: date | None = None
    items: str
    total: Decimal
    refunded: Decimal = Decimal("0")
    currency: str

    @property
    def refundable(self) -> Decimal:
        return max(Decimal("0"), self.total - self.refunded)


class PastTicket(BaseModel):
    ticket_id: str
    opened_at: date
    category: str
    status: str
    resolution: str


class CustomerLookup(BaseModel):
    customer_id: str
    order_id: str | None = None


class CustomerHistory(BaseModel):
    """What the CRM knows about a customer; ``known`` is False for a new contact."""

    customer_id: str
    known: bool
    full_name: str | None = None
    email: str | None = None
    preferred_language: str | None = None
    country: str | None = None
    customer_since: date | None = None
    lifetime_spend: Decimal = Decimal("0")
    currency: str = "EUR"
    orders: list[OrderRecord] = Field(default_factory=list)
    past_tickets: list[PastTicket] = Field(default_factory=list)
    referenced_order: OrderRecord | None = Field(
        default=None, description="The order the ticket names, if it belongs to this customer"
    )
    source: str = ""
    attempt: int = 1


class Crm(Protocol):
    async def history(self, lookup: CustomerLookup) -> CustomerHistory: ...


class SqliteCrm:
    """Embedded CRM in ``crm.sqlite3``, created from the demo seed when first opened."""

    def __init__(self, path: Path, seed: Path = SEED_FILE) -> None:
        self.path = path
        open_seeded(path, seed)

    def _connection(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def _history(self, lookup: CustomerLookup) -> CustomerHistory:
        db = self._connection()
        try:
            customer = db.execute(
                "SELECT * FROM customers WHERE customer_id = ?", (lookup.customer_id,)
            ).fetchone()
            if customer is None:
                return CustomerHistory(customer_id=lookup.customer_id, known=False, source="crm")
            orders = db.execute(
                "SELECT * FROM orders WHERE customer_id = ? ORDER BY placed_at DESC LIMIT ?",
                (lookup.customer_id, RECENT),
            ).fetchall()
            referenced = db.execute(
                "SELECT * FROM orders WHERE order_id = ? AND customer_id = ?",
                (lookup.order_id, lookup.customer_id),
            ).fetchone()
            tickets = db.execute(
                "SELECT * FROM tickets WHERE customer_id = ? ORDER BY opened_at DESC LIMIT ?",
                (lookup.customer_id, RECENT),
            ).fetchall()
        finally:
            db.close()
        return CustomerHistory(
            customer_id=customer["customer_id"],
            known=True,
            full_name=customer["full_name"],
            email=customer["email"],
            preferred_language=customer["preferred_language"],
            country=customer["country"],
            customer_since=customer["customer_since"],
            lifetime_spend=Decimal(customer["lifetime_spend"]),
            currency=customer["currency"],
            orders=[OrderRecord.model_validate(dict(row)) for row in orders],
            past_tickets=[PastTicket.model_validate(dict(row)) for row in tickets],
            referenced_order=OrderRecord.model_validate(dict(referenced)) if referenced else None,
            source="crm",
        )

    async def history(self, lookup: CustomerLookup) -> CustomerHistory:
        return await asyncio.to_thread(self._history, lookup)


class HttpCrm(HttpSystem):
    """A CRM's HTTP API: ``GET /customers/{id}/history?order_id=...`` (404: unknown)."""

    async def history(self, lookup: CustomerLookup) -> CustomerHistory:
        answer = await get_json(
            self.base_url,
            f"customers/{lookup.customer_id}/history",
            timeout_seconds=self.timeout_seconds,
            params={"order_id": lookup.order_id} if lookup.order_id else None,
        )
        if answer is None:
            return CustomerHistory(customer_id=lookup.customer_id, known=False, source="crm-http")
        history = CustomerHistory.model_validate({**answer, "known": True, "source": "crm-http"})
        refuse_other_record("the CRM", lookup.customer_id, history.customer_id, kind="customer")
        # Only the order the ticket names can be the one a refund is computed from.
        referenced = history.referenced_order
        if referenced and referenced.order_id != lookup.order_id:
            history = history.model_copy(update={"referenced_order": None})
        return history


def crm_from_settings(connectors: ConnectorSettings, data_dir: Path) -> Crm:
    """The HTTP CRM when a URL is configured, otherwise the embedded demo CRM."""
    if connectors.crm_url:
        return HttpCrm(connectors.crm_url, connectors.http_timeout_seconds)
    return SqliteCrm(data_dir / "crm.sqlite3")


class CrmActivities:
    def __init__(self, crm: Crm) -> None:
        self.crm = crm

    @activity.defn(name="look_up_customer")
    @with_policy(CRM_READ)
    async def look_up_customer(self, lookup: CustomerLookup) -> CustomerHistory:
        """The customer's history, and the order the ticket names if it is theirs."""
        history = await self.crm.history(lookup)
        return history.model_copy(update={"attempt": activity.info().attempt})
