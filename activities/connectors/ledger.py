"""A SQLite ledger of business actions, the embedded default for every system of record.

Each action carries an idempotency key (the workflow id and the step) under a UNIQUE
constraint: recording it twice returns the first record instead of acting again. That is
what makes a retried or replayed release, refund or notification happen exactly once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sluice.framework.receipts import LedgerEntry
from sluice.private_files import private_database


@contextmanager
def connection(path: Path) -> Iterator[sqlite3.Connection]:
    """One connection to a system's SQLite file: one transaction, committed on success and
    rolled back on error, and closed either way."""
    db = sqlite3.connect(path, timeout=30)
    try:
        with db:
            yield db
    finally:
        db.close()


def write_ahead_log(path: Path, *, patience: float = 30.0) -> None:
    """Put ``path`` in WAL mode (readers do not wait for a writer). The mode belongs to the
    file, so only its first opener changes it; switching takes the file for itself and SQLite
    refuses at once, without waiting, when another process holds it: two workers started
    together on a new file would otherwise fail with "database is locked".

    Commits stay ``synchronous=FULL`` (SQLite's default), not ``NORMAL``: with ``NORMAL`` a
    WAL commit is durable against a crash of the process but not of the machine, and a
    power cut could then lose an action the worker had already reported to Temporal as
    done: the history would say the cargo was released while the system of record has no
    release, and no retry would come to write it again. The ledger writes cost the same in
    bare Temporal's benchmark, which uses these ledgers too (BENCHMARKS.md, section 1)."""
    deadline = time.monotonic() + patience
    while True:
        db = sqlite3.connect(path, timeout=patience)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
        finally:
            db.close()
        time.sleep(0.05)


def open_seeded(path: Path, seed: Path) -> None:
    """Make ``path`` a private database and run its seed script, which is written to change
    nothing when it runs again (every embedded system runs it each time it is opened)."""
    private_database(path)
    with connection(path) as db:
        db.executescript(seed.read_text(encoding="utf-8"))


class Ledger:
    """Business actions of one system of record, in one SQLite file."""

    def __init__(self, path: Path, system: str) -> None:
        self.path = path
        self.system = system
        private_database(path)
        write_ahead_log(path)
        with connection(path) as db:
            db.execute(
                """CREATE TABLE IF NOT EXISTS actions (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    idempotency_key TEXT NOT NULL UNIQUE,
                    action TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    recorded_at TEXT NOT NULL,
                    detail TEXT NOT NULL
                )"""
            )

    def _record(self, key: str, action: str, subject: str, detail: dict[str, Any]) -> LedgerEntry:
        now = datetime.now(UTC).isoformat()
        with connection(self.path) as db:
            inserted = db.execute(
                "INSERT INTO actions (idempotency_key, action, subject, recorded_at, detail) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(idempotency_key) DO NOTHING",
                (key, action, subject, now, json.dumps(detail, sort_keys=True)),
            ).rowcount
            row = db.execute(
                "SELECT id, action, subject, recorded_at, detail FROM actions "
                "WHERE idempotency_key = ?",
                (key,),
            ).fetchone()
        return LedgerEntry(
            idempotency_key=key,
            action=row[1],
            subject=row[2],
            reference=f"{self.system.upper()}-{row[0]:06d}",
            recorded_at=datetime.fromisoformat(row[3]),
            detail=json.loads(row[4]),
            duplicate=inserted == 0,
        )

    async def record(
        self, key: str, action: str, subject: str, detail: dict[str, Any]
    ) -> LedgerEntry:
        """Record the action once; a repeat with the same key returns the first record."""
        return await asyncio.to_thread(self._record, key, action, subject, detail)

    def _recorded(self, key: str) -> bool:
        with connection(self.path) as db:
            row = db.execute("SELECT 1 FROM actions WHERE idempotency_key = ?", (key,)).fetchone()
        return row is not None

    async def recorded(self, key: str) -> bool:
        """Whether an action was recorded under ``key``."""
        return await asyncio.to_thread(self._recorded, key)

    def actions(self, action: str | None = None) -> list[LedgerEntry]:
        """Everything recorded, oldest first (for tests, audits and the fault suite)."""
        query = "SELECT idempotency_key, action, subject, recorded_at, detail, id FROM actions"
        params: tuple[str, ...] = ()
        if action:
            query, params = query + " WHERE action = ?", (action,)
        with connection(self.path) as db:
            rows = db.execute(query + " ORDER BY id", params).fetchall()
        return [
            LedgerEntry(
                idempotency_key=r[0],
                action=r[1],
                subject=r[2],
                recorded_at=datetime.fromisoformat(r[3]),
                detail=json.loads(r[4]),
                reference=f"{self.system.upper()}-{r[5]:06d}",
            )
            for r in rows
        ]
