"""The embedded list: an OpenSanctions export loaded from a file, indexed in memory.

Two export formats are read, told apart by their first character:

* ``targets.simple.csv``: columns ``id, schema, name, aliases, birth_date, countries, ...,
  sanctions, ..., dataset, ..., last_change`` with multiple values separated by ``;``
  (the repository ships a small fictional sample in this shape, ``data/sanctions_sample.csv``);
* FollowTheMoney JSON lines (``entities.ftm.json``): one entity per line with ``id``,
  ``schema``, ``properties`` (``name``, ``alias``, ``birthDate``, ``nationality``,
  ``country``, ``topics`` ...), ``datasets``, ``target`` and ``last_change``. Entities that
  are not persons, companies, organisations or vessels (addresses, sanctions, ownerships)
  and non-targets are skipped.

Which list answered is part of every screening: its file name, a version (the content's
hash and size, so two different files never share one) and its date (the newest
``last_change`` in it).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from activities.connectors.sanctions.index import ListIndex
from activities.connectors.sanctions.matching import MATCHER_VERSION
from activities.connectors.sanctions.models import (
    DEFAULT_MAX_HITS_PER_NAME,
    DEFAULT_THRESHOLD,
    ORGANISATION_SCHEMAS,
    PERSON_SCHEMAS,
    ListEntry,
    QueryEvidence,
    ScreeningKind,
    ScreeningResult,
)
from sluice.framework.name_keys import normalise_name

DEFAULT_LIST_PATH = Path(__file__).resolve().parent.parent / "data" / "sanctions_sample.csv"

#: Columns this code needs. The other columns of targets.simple.csv (birth_date, countries,
#: addresses, identifiers, phones, emails, first_seen, last_seen, last_change) are optional.
REQUIRED_COLUMNS = ("id", "schema", "name", "aliases", "sanctions", "dataset")

#: The longest name screened; the longest names on real lists are well under half of it.
MAX_NAME_LENGTH = 300

_SCREENED_SCHEMAS = PERSON_SCHEMAS | ORGANISATION_SCHEMAS
# FollowTheMoney properties that name an entity. ``weakAlias`` is left out on purpose:
# OpenSanctions marks it as too generic to screen against.
_FTM_NAME_PROPERTIES = ("name", "alias", "previousName")


class EmbeddedSanctionsList:
    """Screens names against a list file loaded once and indexed in memory."""

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_LIST_PATH,
        *,
        max_hits_per_name: int = DEFAULT_MAX_HITS_PER_NAME,
    ) -> None:
        """Load and index ``path``. Raises ValueError naming the file for a malformed file."""
        if max_hits_per_name < 1:
            raise ValueError("max_hits_per_name must be at least 1")
        self._path = Path(path)
        self._max_hits = max_hits_per_name
        raw = self._path.read_bytes()
        self._entries, list_date = parse_list(raw, self._path.name)
        self.list_source = self._path.name
        self.list_version = list_version(content_digest(raw), self._entries)
        self.list_date = list_date
        self._index = ListIndex(self._entries)

    @property
    def entries(self) -> tuple[ListEntry, ...]:
        """The loaded entries, in file order."""
        return self._entries

    async def screen(
        self,
        names: Sequence[str],
        *,
        kind: ScreeningKind = "any",
        threshold: float = DEFAULT_THRESHOLD,
        evidence: QueryEvidence | None = None,
    ) -> ScreeningResult:
        """Screen ``names`` (see :class:`SanctionsList`). Runs the CPU-bound matching in a
        worker thread so a large list does not stall the event loop of the activity worker."""
        return await asyncio.to_thread(
            self.screen_blocking, names, kind=kind, threshold=threshold, evidence=evidence
        )

    def screen_blocking(
        self,
        names: Sequence[str],
        *,
        kind: ScreeningKind = "any",
        threshold: float = DEFAULT_THRESHOLD,
        evidence: QueryEvidence | None = None,
    ) -> ScreeningResult:
        """Synchronous :meth:`screen`, for scripts and tests."""
        check_arguments(kind, threshold)
        return screen_index(
            self._index,
            clean_names(names),
            kind,
            threshold,
            evidence,
            self._max_hits,
            list_source=self.list_source,
            list_version=self.list_version,
            list_date=self.list_date,
        )


#: The first name of this class, kept for callers that import it.
CsvSanctionsList = EmbeddedSanctionsList


def parse_list(raw: bytes, label: str) -> tuple[tuple[ListEntry, ...], str | None]:
    """The entries of an export, and its date; ValueError naming ``label`` when malformed."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"sanctions list {label}: not UTF-8 text ({exc})") from exc
    if text.lstrip().startswith("{"):
        entries, dates = _parse_ftm(text, label)
    else:
        entries, dates = _parse_csv(text, label)
    if not entries:
        raise ValueError(f"sanctions list {label}: no entries")
    return tuple(entries), max(dates)[:10] if dates else None


def _parse_csv(text: str, label: str) -> tuple[list[ListEntry], list[str]]:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise ValueError(
                f"sanctions list {label}: missing column {column!r} "
                f"(expected the OpenSanctions targets.simple.csv shape)"
            )
    entries = []
    dates = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise ValueError(f"sanctions list {label}, line {line}: too many fields")
        entry_id = (row.get("id") or "").strip()
        name = (row.get("name") or "").strip()
        schema = (row.get("schema") or "").strip()
        if not entry_id or not name or not schema:
            raise ValueError(
                f"sanctions list {label}, line {line}: id, schema and name are required"
            )
        names = [name, *(a for a in _split_multi(row.get("aliases")) if a != name)]
        entries.append(
            ListEntry(
                entry_id=entry_id,
                schema=schema,
                caption=name,
                names=tuple(dict.fromkeys(n for n in names if normalise_name(n))),
                topics=tuple(_csv_topics(row)),
                datasets=tuple(_split_multi(row.get("dataset"))),
                birth_dates=tuple(_split_multi(row.get("birth_date"))),
                countries=tuple(_split_multi(row.get("countries"))),
            )
        )
        if changed := (row.get("last_change") or "").strip():
            dates.append(changed)
    return entries, dates


def _split_multi(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip() for part in value.split(";") if part.strip()]


def _csv_topics(row: Mapping[str, str | None]) -> list[str]:
    """targets.simple.csv has no topics column: a non-empty ``sanctions`` column means the
    entry is sanctioned, a dataset named like a PEP list means a politically exposed person.
    An optional ``topics`` column, when present, is taken as is."""
    topics = _split_multi(row.get("topics"))
    if row.get("sanctions", "") and "sanction" not in topics:
        topics.append("sanction")
    if any("pep" in d.casefold() for d in _split_multi(row.get("dataset"))):
        if "role.pep" not in topics:
            topics.append("role.pep")
    return topics


def _parse_ftm(text: str, label: str) -> tuple[list[ListEntry], list[str]]:
    entries = []
    dates = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entity = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"sanctions list {label}, line {line_number}: not JSON") from exc
        if not isinstance(entity, dict):
            raise ValueError(f"sanctions list {label}, line {line_number}: not an entity")
        entry = _ftm_entry(entity, f"{label}, line {line_number}")
        if entry is None:
            continue
        entries.append(entry)
        if isinstance(changed := entity.get("last_change"), str) and changed.strip():
            dates.append(changed.strip())
    return entries, dates


def _ftm_entry(entity: Mapping[str, Any], where: str) -> ListEntry | None:
    schema = entity.get("schema")
    if schema not in _SCREENED_SCHEMAS or entity.get("target") is False:
        return None
    entry_id = entity.get("id")
    properties = entity.get("properties")
    if not isinstance(entry_id, str) or not entry_id or not isinstance(properties, dict):
        raise ValueError(f"sanctions list {where}: an entity needs an id and properties")
    names = [n for prop in _FTM_NAME_PROPERTIES for n in _strings(properties.get(prop))]
    if not names:
        given = " ".join(_strings(properties.get("firstName"))[:1])
        family = " ".join(_strings(properties.get("lastName"))[:1])
        names = [f"{given} {family}".strip()] if given or family else []
    names = [n for n in dict.fromkeys(names) if normalise_name(n)]
    if not names:
        raise ValueError(f"sanctions list {where}: entity {entry_id} has no name")
    caption = entity.get("caption")
    return ListEntry(
        entry_id=entry_id,
        schema=str(schema),
        caption=caption if isinstance(caption, str) and caption.strip() else names[0],
        names=tuple(names),
        topics=tuple(_strings(properties.get("topics"))),
        datasets=tuple(_strings(entity.get("datasets"))),
        birth_dates=tuple(_strings(properties.get("birthDate"))),
        countries=tuple(
            dict.fromkeys(
                _strings(properties.get("nationality"))
                + _strings(properties.get("citizenship"))
                + _strings(properties.get("country"))
                + _strings(properties.get("jurisdiction"))
            )
        ),
    )


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def clean_names(names: Sequence[str]) -> list[str]:
    """The names to screen, whitespace-normalised and deduplicated; refuses nonsense."""
    if isinstance(names, str):
        # A bare string is a sequence of characters; screening each letter would be nonsense.
        raise TypeError("names must be a sequence of names, not a single string")
    cleaned: list[str] = []
    for name in names:
        stripped = " ".join(name.split())
        # An empty party name is a data error upstream; reporting it "clear" would hide it.
        if not normalise_name(stripped):
            raise ValueError(f"cannot screen an empty or punctuation-only name: {name!r}")
        # Names are compared part by part with every candidate: a name of thousands of
        # characters (a pasted document) is not a name, and would tie up the worker.
        if len(stripped) > MAX_NAME_LENGTH:
            raise ValueError(
                f"cannot screen a name of {len(stripped)} characters "
                f"(at most {MAX_NAME_LENGTH}): is it a name?"
            )
        # The same party often appears twice (shipper is also the notify party): screen once.
        if stripped not in cleaned:
            cleaned.append(stripped)
    return cleaned


def content_digest(raw: bytes) -> str:
    """What tells two exports apart: the start of their content's SHA-256."""
    return hashlib.sha256(raw).hexdigest()[:16]


def list_version(digest: str, entries: Sequence[ListEntry]) -> str:
    """The version recorded with every screening: the content's digest and its rows."""
    return f"sha256:{digest};rows:{len(entries)}"


def screen_index(
    index: ListIndex,
    cleaned: list[str],
    kind: ScreeningKind,
    threshold: float,
    evidence: QueryEvidence | None,
    max_hits: int,
    *,
    list_source: str,
    list_version: str,
    list_date: str | None,
) -> ScreeningResult:
    """Screen names already checked by :func:`clean_names` against one loaded index, and say
    which list (source, version, date) and which matcher answered."""
    return ScreeningResult(
        list_source=list_source,
        list_version=list_version,
        list_date=list_date,
        matcher_version=MATCHER_VERSION,
        threshold=threshold,
        screened_names=cleaned,
        hits=index.screen(cleaned, kind, threshold, evidence, max_hits),
    )


def check_arguments(kind: str, threshold: float) -> None:
    """Refuse a kind or threshold the list cannot honour."""
    if kind not in ("person", "organization", "any"):
        raise ValueError(f"kind must be 'person', 'organization' or 'any', not {kind!r}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], not {threshold!r}")
