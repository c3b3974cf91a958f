"""The vendor master: each supplier's status and the bank account on file.

``SqliteVendorMaster`` is the embedded default, seeded on first use with fictional demo
suppliers (``data/vendor_master_seed.sql``); ``HttpVendorMaster`` reads a vendor master's
HTTP API. A supplier it does not know is an answer (a finding), not an error.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from activities.connectors.http import SYSTEM_REJECTED, get_json
from sluice.private_files import private_database

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
        private_database(path)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.executescript(seed.read_text(encoding="utf-8"))
        finally:
            db.close()

    def _vendor(self, lookup: VendorLookup) -> VendorRecord:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            row = db.execute(
                "SELECT status, iban FROM suppliers WHERE supplier_id = ?", (lookup.supplier_id,)
            ).fetchone()
        finally:
            db.close()
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


class HttpVendorMaster:
    """A vendor master's HTTP API: ``GET /suppliers/{id}`` (404: unknown supplier)."""

    def __init__(self, base_url: str, timeout_seconds: float = 10.0) -> None:
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds

    async def vendor(self, lookup: VendorLookup) -> VendorRecord:
        answer = await get_json(
            self.base_url, f"suppliers/{lookup.supplier_id}", timeout_seconds=self.timeout_seconds
        )
        if answer is None:
            return VendorRecord(supplier_id=lookup.supplier_id, known=False, source="vendor-http")
        record = VendorRecord.model_validate({**answer, "known": True, "source": "vendor-http"})
        if record.supplier_id != lookup.supplier_id:
            raise ApplicationError(
                f"the vendor master answered for {record.supplier_id}, not {lookup.supplier_id}",
                type=SYSTEM_REJECTED,
                non_retryable=True,
            )
        return record
