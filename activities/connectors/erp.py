"""The ERP: purchase orders and the goods received against them, for the three-way match.

``SqliteErp`` is the embedded default, seeded on first use with fictional demo orders and
receipts (``data/erp_seed.sql``); ``HttpErp`` reads an ERP's HTTP API. An order the ERP does
not know is an answer (the match finds it missing), not an error; an ERP that cannot be
reached is an error the retry policy rides out and then reports.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from activities.connectors.http import HttpSystem, get_json, refuse_other_record
from activities.connectors.ledger import connection, open_seeded

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
        open_seeded(path, seed)

    def _purchase(self, lookup: PurchaseLookup) -> PurchaseRecord:
        with connection(self.path) as db:
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


class HttpErp(HttpSystem):
    """An ERP's HTTP API: ``GET /purchase-orders/{po}`` with its receipts (404: unknown)."""

    async def purchase(self, lookup: PurchaseLookup) -> PurchaseRecord:
        answer = await get_json(
            self.base_url,
            f"purchase-orders/{lookup.po_number}",
            timeout_seconds=self.timeout_seconds,
        )
        if answer is None:
            return PurchaseRecord(po_number=lookup.po_number, source="erp-http")
        order = PurchaseOrder.model_validate(answer)
        refuse_other_record("the ERP", lookup.po_number, order.po_number)
        return PurchaseRecord(po_number=lookup.po_number, order=order, source="erp-http")
