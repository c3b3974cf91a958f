"""The ERP: purchase orders and the goods received against them, for the three-way match.

``SqliteErp`` is the embedded default, seeded on first use with fictional demo orders and
receipts (``data/erp_seed.sql``); ``HttpErp`` reads an ERP's HTTP API. An order the ERP does
not know is an answer (the match finds it missing), not an error; an ERP that cannot be
reached is an error the retry policy rides out and then reports.
"""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

from activities.connectors.http import SYSTEM_REJECTED, get_json
from sluice.private_files import private_database

SEED_FILE = Path(__file__).resolve().parent / "data" / "erp_seed.sql"


class OrderLine(BaseModel):
    """One line of a purchase order: what was ordered, at what price."""

    item: str
    quantity: Decimal = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class PurchaseOrder(BaseModel):
    """A purchase order as the ERP holds it, with every quantity received against it."""

    po_number: str
    supplier_id: str
    currency: str
    status: str
    lines: list[OrderLine]
    received: dict[str, Decimal] = Field(
        default_factory=dict, description="Quantity received per item, all receipts together"
    )


class PurchaseLookup(BaseModel):
    po_number: str


class PurchaseRecord(BaseModel):
    """The ERP's answer: the order with its receipts, or ``None`` when it knows none."""

    po_number: str
    order: PurchaseOrder | None = None
    source: str = ""


class Erp(Protocol):
    async def purchase(self, lookup: PurchaseLookup) -> PurchaseRecord: ...


class SqliteErp:
    """Embedded ERP in ``erp.sqlite3``, created from the demo seed when first opened."""

    def __init__(self, path: Path, seed: Path = SEED_FILE) -> None:
        self.path = path
        private_database(path)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.executescript(seed.read_text(encoding="utf-8"))
        finally:
            db.close()

    def _purchase(self, lookup: PurchaseLookup) -> PurchaseRecord:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            order = db.execute(
                "SELECT supplier_id, currency, status FROM purchase_orders WHERE po_number = ?",
                (lookup.po_number,),
            ).fetchone()
            if order is None:
                return PurchaseRecord(po_number=lookup.po_number, source="erp")
            lines = db.execute(
                "SELECT item, quantity, unit_price FROM order_lines WHERE po_number = ? "
                "ORDER BY line_no",
                (lookup.po_number,),
            ).fetchall()
            received = db.execute(
                "SELECT item, quantity FROM goods_receipts WHERE po_number = ?",
                (lookup.po_number,),
            ).fetchall()
        finally:
            db.close()
        totals: dict[str, Decimal] = {}
        for item, quantity in received:
            totals[item] = totals.get(item, Decimal("0")) + Decimal(quantity)
        return PurchaseRecord(
            po_number=lookup.po_number,
            order=PurchaseOrder(
                po_number=lookup.po_number,
                supplier_id=order[0],
                currency=order[1],
                status=order[2],
                lines=[
                    OrderLine(item=item, quantity=Decimal(qty), unit_price=Decimal(price))
                    for item, qty, price in lines
                ],
                received=totals,
            ),
            source="erp",
        )

    async def purchase(self, lookup: PurchaseLookup) -> PurchaseRecord:
        return await asyncio.to_thread(self._purchase, lookup)


class HttpErp:
    """An ERP's HTTP API: ``GET /purchase-orders/{po}`` with its receipts (404: unknown)."""

    def __init__(self, base_url: str, timeout_seconds: float = 10.0) -> None:
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds

    async def purchase(self, lookup: PurchaseLookup) -> PurchaseRecord:
        answer = await get_json(
            self.base_url,
            f"purchase-orders/{lookup.po_number}",
            timeout_seconds=self.timeout_seconds,
        )
        if answer is None:
            return PurchaseRecord(po_number=lookup.po_number, source="erp-http")
        order = PurchaseOrder.model_validate(answer)
        if order.po_number != lookup.po_number:
            raise ApplicationError(
                f"the ERP answered for {order.po_number}, not {lookup.po_number}",
                type=SYSTEM_REJECTED,
                non_retryable=True,
            )
        return PurchaseRecord(po_number=lookup.po_number, order=order, source="erp-http")
