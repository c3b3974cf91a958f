"""The embedded ledger when several workers open it at the same moment: on a new file, the
first switches it to WAL and the others wait for that instead of failing to start (a
benchmark's two workers did, with "database is locked")."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from activities.connectors.ledger import Ledger


def test_a_worker_opening_a_ledger_another_process_holds_waits_and_starts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notifications.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another worker is creating the file right now
    opened: list[Ledger] = []
    failed: list[BaseException] = []

    def start_worker() -> None:
        try:
            opened.append(Ledger(path, "notice"))
        except BaseException as err:  # the assertion below names it
            failed.append(err)

    worker = threading.Thread(target=start_worker)
    worker.start()
    time.sleep(0.5)
    other.execute("COMMIT")
    other.close()
    worker.join(timeout=30)

    assert failed == []
    [ledger] = opened
    entry = asyncio.run(ledger.record("run-1:notify", "sent", "shipment-1", {}))
    assert not entry.duplicate
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
