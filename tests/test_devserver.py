"""The embedded default server keeps its state in a SQLite file in write-ahead-log mode
(under load the default journal made it retry "disk I/O error" writes and run about a third
slower), and a run started on it is still there after a restart."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from sluice.devserver import start_dev_server
from tests.conftest import example
from workflows.cargo_release import CargoReleaseWorkflow


async def test_the_embedded_server_keeps_runs_in_a_wal_mode_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "state" / "temporal.sqlite"
    workflow_id = f"devserver-{uuid.uuid4().hex[:8]}"
    server = await start_dev_server(database_file=database, port=None, ui=False)
    try:
        await server.client.start_workflow(
            CargoReleaseWorkflow.run,
            example("cargo_release", "clean"),
            id=workflow_id,
            task_queue="nobody-polls-this",
        )
    finally:
        await server.shutdown()

    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    again = await start_dev_server(database_file=database, port=None, ui=False)
    try:
        described = await again.client.get_workflow_handle(workflow_id).describe()
    finally:
        await again.shutdown()
    assert described.workflow_type == "CargoReleaseWorkflow"
