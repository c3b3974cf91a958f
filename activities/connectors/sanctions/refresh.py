"""A list export fetched from a URL or re-read from a file on a schedule, without stopping the
worker.

Why not a Temporal schedule: the index lives in each worker process's memory, and a refresh
activity started by a schedule would run on one worker only, leaving the others on the old
list. Instead each worker refreshes its own copy when it has grown older than the configured
interval: the first screening after that starts a background reload; screenings meanwhile go
on against the list loaded before, and the new index replaces it only once it is complete.
A failed reload keeps the previous list and is tried again at the next screening; a list
that was never loaded makes screening fail (retryable), never "clear".

Which version answered is recorded with every screening (``list_version``, ``list_date``),
so a reviewer sees when a hit came from a list refreshed in the middle of a run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from temporalio.exceptions import ApplicationError

from activities.connectors.http import get_bytes, redacted_url
from activities.connectors.sanctions.index import ListIndex
from activities.connectors.sanctions.lists import (
    check_arguments,
    clean_names,
    content_digest,
    list_version,
    parse_list,
    screen_index,
)
from activities.connectors.sanctions.models import (
    DEFAULT_MAX_HITS_PER_NAME,
    DEFAULT_THRESHOLD,
    QueryEvidence,
    ScreeningKind,
    ScreeningResult,
    ScreeningUnavailable,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Loaded:
    digest: str
    version: str
    date: str | None
    index: ListIndex
    loaded_at: float


def _is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def _label(source: str) -> str:
    """What the audit trail names: a file's name, or the URL without credentials or query."""
    if not _is_url(source):
        return Path(source).name
    return redacted_url(source)


class RefreshingSanctionsList:
    """An OpenSanctions export (CSV or FollowTheMoney JSON lines) at a URL or path, loaded on
    first use and reloaded in the background every ``refresh_seconds`` (never, if None)."""

    def __init__(
        self,
        source: str,
        *,
        refresh_seconds: float | None = None,
        timeout_seconds: float = 120.0,
        max_hits_per_name: int = DEFAULT_MAX_HITS_PER_NAME,
    ) -> None:
        """``source`` is an ``http(s)://`` URL (fetched through the connectors' HTTP helper)
        or a file path."""
        if not source.strip():
            raise ValueError("a list source is required")
        if refresh_seconds is not None and refresh_seconds <= 0:
            raise ValueError("refresh_seconds must be positive")
        if max_hits_per_name < 1:
            raise ValueError("max_hits_per_name must be at least 1")
        self._source = source.strip()
        self._refresh_seconds = refresh_seconds
        self._timeout = timeout_seconds
        self._max_hits = max_hits_per_name
        self._loaded: _Loaded | None = None
        self._first_load = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self.list_source = _label(self._source)

    @property
    def list_version(self) -> str | None:
        """The version of the list currently screened against (None before the first load)."""
        return self._loaded.version if self._loaded else None

    async def refresh(self) -> bool:
        """Fetch and index the list again; True when its content changed. The index is
        swapped in one assignment, so a screening sees the old list or the new, never half."""
        raw = await self._fetch()
        digest = content_digest(raw)
        if self._loaded is not None and self._loaded.digest == digest:
            self._loaded = replace(self._loaded, loaded_at=time.monotonic())
            return False
        loaded = await asyncio.to_thread(self._build, raw, digest)
        self._loaded = loaded
        log.info("sanctions list %s loaded: %s", self.list_source, loaded.version)
        return True

    def _build(self, raw: bytes, digest: str) -> _Loaded:
        entries, date = parse_list(raw, self.list_source)
        return _Loaded(
            digest, list_version(digest, entries), date, ListIndex(entries), time.monotonic()
        )

    async def _fetch(self) -> bytes:
        if not _is_url(self._source):
            try:
                return await asyncio.to_thread(Path(self._source).read_bytes)
            except OSError as err:
                raise ScreeningUnavailable(
                    f"sanctions list {self.list_source} cannot be read: {type(err).__name__}"
                ) from err
        try:
            return await get_bytes(self._source, timeout_seconds=self._timeout)
        except ApplicationError as err:
            # The helper's message carries the full URL, which may hold a token: not here.
            raise ScreeningUnavailable(
                f"sanctions list {self.list_source} could not be fetched ({err.type})"
            ) from err

    async def _current(self) -> _Loaded:
        if self._loaded is None:
            async with self._first_load:
                if self._loaded is None:
                    try:
                        await self.refresh()
                    except ValueError as err:
                        raise ScreeningUnavailable(str(err)) from err
        assert self._loaded is not None
        if self._is_stale(self._loaded) and (self._background is None or self._background.done()):
            self._background = asyncio.create_task(self._refresh_quietly())
        return self._loaded

    def _is_stale(self, loaded: _Loaded) -> bool:
        return (
            self._refresh_seconds is not None
            and time.monotonic() - loaded.loaded_at >= self._refresh_seconds
        )

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except (ScreeningUnavailable, ValueError) as err:
            # Keep screening against the list loaded before; the next screening tries again.
            log.warning("sanctions list %s not refreshed: %s", self.list_source, err)

    async def screen(
        self,
        names: Sequence[str],
        *,
        kind: ScreeningKind = "any",
        threshold: float = DEFAULT_THRESHOLD,
        evidence: QueryEvidence | None = None,
    ) -> ScreeningResult:
        """Screen ``names`` (see :class:`SanctionsList`) against the list as last loaded."""
        check_arguments(kind, threshold)
        cleaned = clean_names(names)
        loaded = await self._current()
        return await asyncio.to_thread(
            screen_index,
            loaded.index,
            cleaned,
            kind,
            threshold,
            evidence,
            self._max_hits,
            list_source=self.list_source,
            list_version=loaded.version,
            list_date=loaded.date,
        )
