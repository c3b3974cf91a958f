"""Documents given by path are read from the intake folder only, and never through a link.

A run's input may name a file instead of carrying it (a scan of several megabytes). Such a
name is hostile until checked: it could point at the key ring, ``.env`` or ``.git/config``,
and what the worker reads lands in the run's history. So a name is a relative path inside
the configured intake folder (``[documents] intake_dir``, which the configuration refuses to
place at, around or inside the data folder, the key folder or the configuration itself):

- absolute paths, ``.`` and ``..``, and hidden names (any part starting with ``.``) are
  refused, and so are NUL bytes, unprintable characters and over-long names;
- the file is opened one folder at a time from the intake folder, each part without
  following a symbolic link (``O_NOFOLLOW``), so a link anywhere on the way is refused;
- what was opened must be a regular file with no other hard link and within the size limit.

The CLI checks every such path before a run starts (``check_document``); the worker checks
again when it reads (``read_document``): it is the trust boundary. A refusal's message names
the path as given, never the machine's own folders.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

# Linux allows 255 bytes a name and 4096 a path; documents need far less.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
_SHOWN_CHARS = 80


class IntakePath:
    """Marks a model field as a path into the intake folder, so every entry point can find
    and check it: ``path: Annotated[str | None, INTAKE_PATH]``."""


INTAKE_PATH = IntakePath()


class IntakeRefusal(ValueError):
    """A document path that is not read. The message is safe to show and to record."""


def intake_paths(value: object) -> Iterator[str]:
    """Every intake path inside ``value`` (models, lists and dicts of them)."""
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            item = getattr(value, name)
            if any(isinstance(marker, IntakePath) for marker in field.metadata):
                if isinstance(item, str):
                    yield item
            else:
                yield from intake_paths(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from intake_paths(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from intake_paths(item)


def shown(name: str) -> str:
    """A path as a message may show it: unprintable characters escaped, long ones cut."""
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in name[:_SHOWN_CHARS])
    return f"'{text}…'" if len(name) > _SHOWN_CHARS else f"'{text}'"


def path_parts(name: str) -> list[str]:
    """The folder names and file name of ``name``, or IntakeRefusal saying why not."""
    if "\x00" in name:
        raise IntakeRefusal("a document path with a NUL byte is refused")
    size = len(name.encode("utf-8", errors="surrogatepass"))
    if size > MAX_PATH_BYTES:
        raise IntakeRefusal(f"a document path of {size} bytes is refused: at most {MAX_PATH_BYTES}")
    if not name.isprintable():
        raise IntakeRefusal(f"{shown(name)}: unprintable characters in a document path")
    if name.startswith("/"):
        raise IntakeRefusal(
            f"{shown(name)}: absolute paths are refused; give the path inside the intake folder"
        )
    parts = name.split("/")
    for part in parts:
        if not part:
            raise IntakeRefusal(f"{shown(name)}: empty folder name in a document path")
        if part in (".", ".."):
            raise IntakeRefusal(f"{shown(name)}: '{part}' is refused in a document path")
        if part.startswith("."):
            raise IntakeRefusal(f"{shown(name)}: hidden names (starting with '.') are refused")
        if len(part.encode("utf-8", errors="surrogatepass")) > MAX_NAME_BYTES:
            raise IntakeRefusal(
                f"{shown(name)}: a file or folder name is at most {MAX_NAME_BYTES} bytes"
            )
    return parts


def check_documents(value: object, folder: Path, max_bytes: int) -> None:
    """Refuse (IntakeRefusal) the first intake path in ``value`` the worker would refuse."""
    for name in intake_paths(value):
        check_document(folder, name, max_bytes)


def check_document(folder: Path, name: str, max_bytes: int) -> None:
    """Refuse (IntakeRefusal) what ``read_document`` would refuse, without reading it."""
    with _opened(folder, name, max_bytes):
        pass


def read_document(folder: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of the document ``name`` in the intake ``folder``, or IntakeRefusal."""
    with _opened(folder, name, max_bytes) as descriptor:
        chunks: list[bytes] = []
        received = 0
        while chunk := os.read(descriptor, min(1 << 20, max_bytes + 1 - received)):
            chunks.append(chunk)
            received += len(chunk)
            if received > max_bytes:  # it grew after it was checked
                raise IntakeRefusal(f"{shown(name)}: {_too_large(received, max_bytes)}")
        return b"".join(chunks)


@contextmanager
def _opened(folder: Path, name: str, max_bytes: int) -> Iterator[int]:
    parts = path_parts(name)
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise IntakeRefusal(
            "the intake folder ([documents] intake_dir) cannot be opened on this machine"
        ) from None
    try:
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
            kind = os.O_NONBLOCK | os.O_NOCTTY if last else os.O_DIRECTORY
            try:
                inner = os.open(
                    part, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | kind, dir_fd=descriptor
                )
            except OSError as err:
                raise IntakeRefusal(f"{shown(name)}: {_why_not(part, descriptor, err)}") from None
            os.close(descriptor)
            descriptor = inner
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):
            raise IntakeRefusal(f"{shown(name)}: a folder, not a document")
        if not stat.S_ISREG(status.st_mode):
            raise IntakeRefusal(f"{shown(name)}: not a regular file")
        if status.st_nlink > 1:
            # A hard link can make a file elsewhere on the disk appear inside the folder.
            raise IntakeRefusal(
                f"{shown(name)}: the file has other hard links; copy it into the intake folder"
            )
        if status.st_size > max_bytes:
            raise IntakeRefusal(f"{shown(name)}: {_too_large(status.st_size, max_bytes)}")
        yield descriptor
    finally:
        os.close(descriptor)


def _why_not(part: str, folder: int, err: OSError) -> str:
    try:
        status = os.stat(part, dir_fd=folder, follow_symlinks=False)
    except OSError:
        status = None
    if status is not None and stat.S_ISLNK(status.st_mode):
        return "symbolic links are not followed in the intake folder"
    if err.errno in (errno.ENOENT, errno.ENOTDIR):
        return "no such file in the intake folder"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "the worker is not allowed to read it"
    return f"cannot be opened ({os.strerror(err.errno or 0)})"


def _too_large(size: int, limit: int) -> str:
    return f"{size / 1_048_576:.1f} MB; a document may be at most {limit / 1_048_576:.1f} MB"
