"""The vendor master: each supplier's status and the bank account on file.

``SqliteVendorMaster`` is the embedded default, seeded on first use with fictional demo
suppliers (``data/vendor_master_seed.sql``); ``HttpVendorMaster`` reads a vendor master's
HTTP API. A supplier it does not know is an answer (a finding), not an error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from activities.connectors.http import HttpSystem, get_json, refuse_other_record
from activities.connectors.ledger import connection, open_seeded

SEED_FILE = Path(__file__).resolve().parent / "data" / "vendor_master_seed.sql"


class VendorLookup(BaseModel):
    supplier_id: str


class VendorRecord(BaseModel):
    """A supplier as the vendor master holds it; ``known`` is False when it holds none."""

    supplier_id: str
    known: bool
    status: str | None = None
    iban: str | None = None
    source: str = ""


class VendorMaster(Protocol):
    async def vendor(self, lookup: VendorLookup) -> VendorRecord: ...


class SqliteVendorMaster:
    """Embedded vendor master in ``vendor_master.sqlite3``, from the demo seed."""

    def __init__(self, path: Path, seed: Path = SEED_FILE) -> None:
        self.path = path
        open_seeded(path, seed)

    def _vendor(self, lookup: VendorLookup) -> VendorRecord:
        with connection(self.path) as db:
            row = db.execute(
                "SELECT status, iban FROM suppliers WHERE supplier_id = ?", (lookup.supplier_id,)
            ).fetchone()
        if row is None:
            return VendorRecord(supplier_id=lookup.supplier_id, known=False, source="vendor-master")
        return VendorRecord(
            supplier_id=lookup.supplier_id,
            known=True,
            status=row[0],
            iban=row[1],
            source="vendor-master",
        )

    async def vendor(self, lookup: VendorLookup) -> VendorRecord:
        return await asyncio.to_thread(self._vendor, lookup)


class HttpVendorMaster(HttpSystem):
    """A vendor master's HTTP API: ``GET /suppliers/{id}`` (404: unknown supplier)."""

    async def vendor(self, lookup: VendorLookup) -> VendorRecord:
        answer = await get_json(
            self.base_url, f"suppliers/{lookup.supplier_id}", timeout_seconds=self.timeout_seconds
        )
        if answer is None:
            return VendorRecord(supplier_id=lookup.supplier_id, known=False, source="vendor-http")
        record = VendorRecord.model_validate({**answer, "known": True, "source": "vendor-http"})
        refuse_other_record("the vendor master", lookup.supplier_id, record.supplier_id)
        return record
