"""The embedded ledger when several workers open it at the same moment: on a new file, the
first switches it to WAL and the others wait for that instead of failing to start (two
benchmark workers did, with "database is locked": SQLite refuses the switch at once, without
waiting, when two connections try it together)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from activities.connectors.ledger import Ledger

WORKERS = 4
TRIALS = 10


def start_worker(path: Path, together: Barrier, outcomes: Queue[str]) -> None:
    together.wait()
    try:
        Ledger(path, "notice")
    except sqlite3.Error as err:
        outcomes.put(f"{type(err).__name__}: {err}")
    else:
        outcomes.put("started")


def test_workers_opening_a_new_ledger_together_all_start(tmp_path: Path) -> None:
    # Forked, so each worker is at the starting line at once, its imports done.
    context = multiprocessing.get_context("fork")
    outcomes: list[str] = []
    for trial in range(TRIALS):
        path = tmp_path / f"notifications-{trial}.sqlite3"
        together, queue = context.Barrier(WORKERS), context.Queue()
        workers = [
            context.Process(target=start_worker, args=(path, together, queue))
            for _ in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        outcomes += [queue.get(timeout=5) for _ in workers]
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert set(outcomes) == {"started"}
