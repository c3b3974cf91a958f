"""The invoice register: every invoice the AP desk has taken in, for the duplicate check.

Registering is itself the check's read: the invoice is entered once under its run's key
(workflow id and step, a UNIQUE constraint), and the answer lists the supplier's earlier
invoices that could be the same one (same number as compared, or same amount), so two copies
that arrive together still see each other. ``SqliteInvoiceRegister`` is the embedded default,
seeded with a fictional invoice already paid (``data/invoice_register_seed.sql``);
``HttpInvoiceRegister`` posts to an AP system's register.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from activities.connectors.http import HttpSystem, post_idempotent
from activities.connectors.ledger import connection, open_seeded

SEED_FILE = Path(__file__).resolve().parent / "data" / "invoice_register_seed.sql"
# Earlier invoices returned at most: enough for a reviewer, bounded for the history.
MOST_CANDIDATES = 20


class RegisterEntry(BaseModel):
    """One invoice as the register holds it (ids and amounts only)."""

    supplier_id: str
    invoice_number: str
    number_key: str = Field(description="The number as compared: letters and digits, no case")
    invoice_date: date
    total: Decimal
    currency: str
    idempotency_key: str


class RegisterAnswer(BaseModel):
    """The supplier's earlier invoices that could be this one."""

    idempotency_key: str
    candidates: list[RegisterEntry] = Field(default_factory=list)
    duplicate: bool = Field(default=False, description="This key had been registered before")


class InvoiceRegister(Protocol):
    async def register(self, entry: RegisterEntry) -> RegisterAnswer: ...


class SqliteInvoiceRegister:
    """Embedded invoice register in ``invoice_register.sqlite3``."""

    def __init__(self, path: Path, seed: Path = SEED_FILE) -> None:
        self.path = path
        open_seeded(path, seed)

    def _register(self, entry: RegisterEntry) -> RegisterAnswer:
        with connection(self.path) as db:
            inserted = db.execute(
                "INSERT INTO invoices (idempotency_key, supplier_id, invoice_number, "
                "number_key, invoice_date, total, currency, registered_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(idempotency_key) DO NOTHING",
                (
                    entry.idempotency_key,
                    entry.supplier_id,
                    entry.invoice_number,
                    entry.number_key,
                    entry.invoice_date.isoformat(),
                    str(entry.total),
                    entry.currency,
                    datetime.now(UTC).isoformat(),
                ),
            ).rowcount
            # Committed before the read, so an invoice registered at the same moment sees
            # this one and this one sees it.
            db.commit()
            rows = db.execute(
                "SELECT supplier_id, invoice_number, number_key, invoice_date, total, currency, "
                "idempotency_key FROM invoices WHERE supplier_id = ? AND idempotency_key != ? "
                "AND (number_key = ? OR (total = ? AND currency = ?)) ORDER BY id LIMIT ?",
                (
                    entry.supplier_id,
                    entry.idempotency_key,
                    entry.number_key,
                    str(entry.total),
                    entry.currency,
                    MOST_CANDIDATES,
                ),
            ).fetchall()
        return RegisterAnswer(
            idempotency_key=entry.idempotency_key,
            duplicate=inserted == 0,
            candidates=[
                RegisterEntry(
                    supplier_id=r[0],
                    invoice_number=r[1],
                    number_key=r[2],
                    invoice_date=date.fromisoformat(r[3]),
                    total=Decimal(r[4]),
                    currency=r[5],
                    idempotency_key=r[6],
                )
                for r in rows
            ],
        )

    async def register(self, entry: RegisterEntry) -> RegisterAnswer:
        return await asyncio.to_thread(self._register, entry)


class HttpInvoiceRegister(HttpSystem):
    """An AP system's register: ``POST /invoices`` answers with the candidate duplicates."""

    async def register(self, entry: RegisterEntry) -> RegisterAnswer:
        answer = await post_idempotent(
            self.base_url,
            "invoices",
            entry.model_dump(mode="json"),
            key=entry.idempotency_key,
            timeout_seconds=self.timeout_seconds,
        )
        return RegisterAnswer.model_validate({**answer, "idempotency_key": entry.idempotency_key})
