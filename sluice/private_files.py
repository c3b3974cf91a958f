"""Data at rest is readable by its owner only: folders 0700, files 0600.

Ledgers, the dev server's SQLite file, spans, stored payloads and the key ring all hold
personal data or secrets. Each is created through these helpers, and a looser mode left by an
earlier version (or by a hand-made folder) is tightened when Sluice starts. A folder owned by
another user, or a shared one with the sticky bit (``/tmp``), is never changed: a warning
names it instead, since its files stay private by their own mode.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("sluice.private_files")

FOLDER_MODE = 0o700
FILE_MODE = 0o600
# SQLite keeps a database's write-ahead log, shared memory and rollback journal beside it.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> Path:
    """``path`` as a folder only its owner can enter, created (with missing parents) if
    needed, tightened if it is looser."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            pass  # another process made it a moment ago
    _tighten(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner can read, in a private folder: created empty if
    missing (an empty file is also a valid new SQLite database), tightened if looser."""
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)
    return path


def private_database(path: Path, *, create: bool = True) -> Path:
    """A SQLite file as ``private_file``, with any journal files beside it tightened too
    (SQLite gives new ones the database's own mode). Without ``create`` a missing database
    is left for its server to create."""
    if create or path.exists():
        private_file(path)
    else:
        private_folder(path.parent)
    for suffix in SQLITE_COMPANIONS:
        try:
            _tighten(path.with_name(path.name + suffix), FILE_MODE)
        except FileNotFoundError:
            # None, or gone a moment ago: another process's transaction ended and SQLite
            # removed its journal. Asking whether it exists first would race the same way.
            pass
    return path


@contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created meanwhile, by this process or a child it starts (the dev
    server), are private. The umask is process-wide: hold it only around such a start."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _tighten(path: Path, mode: int) -> None:
    status = path.stat()
    loose = stat.S_IMODE(status.st_mode) & ~mode & 0o777
    if not loose:
        return
    if status.st_uid != os.geteuid() or status.st_mode & stat.S_ISVTX:
        log.warning(
            "%s is open to other users (mode %o) and not ours to change: point Sluice's data "
            "at a folder of its own",
            path,
            stat.S_IMODE(status.st_mode),
        )
        return
    os.chmod(path, stat.S_IMODE(status.st_mode) & mode)
