"""Data at rest is readable by its owner only: after a real run on the embedded defaults
(the dev server's SQLite file, the ledgers, the key ring, stored payloads, spans), nothing
under the data folder is open to other users, whatever the umask, and a data folder an
earlier version left open is closed when Sluice starts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.app.wiring import build_worker
from sluice.codec import codec_from_settings, create_key_file, keys_path
from sluice.config import Settings
from sluice.converter import sluice_data_converter
from sluice.devserver import start_dev_server
from sluice.payload_store import payload_storage
from sluice.private_files import private_database, private_file
from sluice.telemetry import JsonLinesSpanExporter
from tests.conftest import SESSION_SPANS, example
from workflows.cargo_release import CargoReleaseOutcome


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that leaves new files readable by everyone, as on many desktops."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def open_to_others(data: Path) -> list[str]:
    """Every folder and file under ``data`` (and itself) that group or others may use."""
    found = [data, *data.rglob("*")]
    return sorted(
        f"{path.relative_to(data.parent)} {stat.S_IMODE(path.lstat().st_mode):o}"
        for path in found
        if stat.S_IMODE(path.lstat().st_mode) & 0o077
    )


async def run_once(settings: Settings) -> list[str]:
    """A clean shipment released on the embedded defaults, with the run's payloads in the
    payload store and its spans in the span file; what is open to others, seen while the
    server still runs (its journal files exist only then) and after it stopped."""
    codec = codec_from_settings(settings, create=True)
    server = await start_dev_server(
        database_file=settings.data_dir / "temporal.sqlite",
        port=None,
        ui=False,
        data_converter=sluice_data_converter(codec, payload_storage(settings)),
    )
    try:
        async with build_worker(server.client, settings):
            outcome = await server.client.execute_workflow(
                "CargoReleaseWorkflow",
                example("cargo_release", "clean"),
                id=f"at-rest-{uuid.uuid4().hex[:8]}",
                task_queue=settings.temporal.task_queue,
                result_type=CargoReleaseOutcome,
            )
        JsonLinesSpanExporter(settings.spans_file).export(SESSION_SPANS.get_finished_spans())
        assert outcome.action == "released"
        assert (settings.data_dir / "temporal.sqlite-wal").exists()
        assert any((settings.data_dir / "payloads").rglob("*"))
        assert settings.spans_file.exists()
        while_running = open_to_others(settings.data_dir)
    finally:
        await server.shutdown()
    return while_running + open_to_others(settings.data_dir)


@pytest.fixture
def embedded(settings: Settings) -> Settings:
    """Everything at its default place under the test's data folder (a key ring and a
    payload store of its own); every payload goes to the store."""
    settings.codec.keys_file = None
    settings.payloads.directory = None
    settings.payloads.threshold_bytes = 0
    return settings


async def test_a_real_run_leaves_nothing_readable_by_other_users(
    embedded: Settings, open_umask: None
) -> None:
    assert await run_once(embedded) == []


async def test_a_data_folder_left_open_by_an_earlier_version_is_closed_on_start(
    embedded: Settings, open_umask: None
) -> None:
    data = embedded.data_dir
    create_key_file(keys_path(embedded))
    (data / "traces").mkdir()
    (data / "traces" / "spans.jsonl").write_text("")
    (data / "payloads" / "sha256").mkdir(parents=True)
    (data / "terminal.sqlite3").write_bytes(b"")
    for folder in (data, data / "codec", data / "traces", data / "payloads"):
        folder.chmod(0o755)
    for file in (keys_path(embedded), data / "traces" / "spans.jsonl", data / "terminal.sqlite3"):
        file.chmod(0o644)
    assert open_to_others(data) != []

    assert await run_once(embedded) == []


def test_a_shared_folder_is_named_in_a_warning_never_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp is: everyone writes, the sticky bit keeps files apart

    spans = private_file(shared / "spans.jsonl")

    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE(spans.stat().st_mode) == 0o600
    assert f"{shared} is open to other users (mode 1777) and not ours to change" in caplog.text


JOURNAL_CHURN = """
import os, sys
journal = sys.argv[1]
print("ready", flush=True)
while True:
    os.close(os.open(journal, os.O_WRONLY | os.O_CREAT, 0o644))
    os.unlink(journal)
"""


def test_a_journal_another_process_removes_meanwhile_is_no_error(tmp_path: Path) -> None:
    """Workers sharing a ledger open it while another one writes: SQLite creates and removes
    the rollback journal with each transaction, and opening the ledger must not fail
    because the journal it saw a moment ago is gone (two workers crashed on it)."""
    database = tmp_path / "ledger.sqlite3"
    journal = tmp_path / "ledger.sqlite3-journal"
    writer = subprocess.Popen(
        [sys.executable, "-c", JOURNAL_CHURN, str(journal)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        for _ in range(3000):
            private_database(database)
    finally:
        writer.kill()
        writer.wait()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
