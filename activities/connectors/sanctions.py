"""Sanctions and PEP screening of names: shipment parties for cargo release, applicants for KYC.

Why this is a connector and not a helper: the sanctions list is a system of record owned by
compliance, not by this code. Which list was consulted, in which version, with which matching
method and threshold is part of the audit trail, so every answer (:class:`ScreeningResult`)
carries the list source, a list version and, per hit, the algorithm that produced the score.

Two implementations sit behind one interface (:class:`SanctionsList`):

* :class:`CsvSanctionsList`, the embedded default, reads a list file in the OpenSanctions
  ``targets.simple.csv`` shape. The repository ships a small fictional sample
  (``data/sanctions_sample.csv``) so the workflows run end to end offline; a real deployment
  points it at a downloaded export or uses the HTTP implementation.
* :class:`HttpSanctionsList` calls an OpenSanctions / yente compatible ``/match/{dataset}``
  API, for teams that run yente on premises or hold an OpenSanctions API key.

The fuzzy matching of the CSV implementation is written as small named functions so that a
compliance officer can read what counts as "the same name": accents, letter case, punctuation,
word order, Cyrillic script, legal forms of companies and a few spelling variants are ignored;
a single word or a different name is not enough. Failures of the HTTP service raise
:class:`ScreeningUnavailable` (retryable) or :class:`ScreeningRequestRejected` (not retryable);
a screening never silently reports "clear" because the list could not be consulted.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import httpx2
from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz import fuzz, process

ScreeningKind = Literal["person", "organization", "any"]

DEFAULT_THRESHOLD = 0.85
DEFAULT_MAX_HITS_PER_NAME = 5
DEFAULT_LIST_PATH = Path(__file__).resolve().parent / "data" / "sanctions_sample.csv"

#: Named and versioned so that a hit recorded today can be explained later, even after the
#: matching rules have been tuned (bump the version whenever a rule or weight changes).
FUZZY_ALGORITHM = "sluice-fuzzy/1"

PERSON_SCHEMAS = frozenset({"Person"})
#: ``PublicBody`` is a kind of Organization in FollowTheMoney; vessels are screened together
#: with companies because the cargo workflow screens a vessel and its owner side by side.
ORGANISATION_SCHEMAS = frozenset({"Company", "Organization", "LegalEntity", "Vessel", "PublicBody"})


class ScreeningUnavailable(Exception):
    """The list could not be consulted (service down, timeout, refused connection, garbled
    answer). Retryable: the caller should try again later, never treat the names as clear."""


class ScreeningRequestRejected(Exception):
    """The screening service refused the request (bad credentials, unknown dataset, invalid
    query). Not retryable: the same request will fail again until configuration changes."""


class ScreeningHit(BaseModel):
    """One list entry that a screened name resembles closely enough to need review."""

    model_config = ConfigDict(extra="forbid")

    queried_name: str = Field(description="The name as it was submitted for screening")
    matched_name: str = Field(description="The entry's name or alias that matched best")
    entry_id: str
    entry_caption: str = Field(description="The entry's display name")
    entity_schema: str = Field(
        description="FollowTheMoney schema: Person, Company, Organization, Vessel, LegalEntity"
    )
    topics: list[str] = Field(default_factory=list, description="e.g. sanction, role.pep")
    datasets: list[str] = Field(default_factory=list)
    score: float = Field(ge=0.0, le=1.0)
    algorithm: str = Field(description="Method and version that produced the score")


class ScreeningResult(BaseModel):
    """The answer of one screening call, with what is needed to reproduce it."""

    model_config = ConfigDict(extra="forbid")

    list_source: str = Field(description="List file name or service URL, never credentials")
    list_version: str
    threshold: float = Field(ge=0.0, le=1.0)
    screened_names: list[str]
    hits: list[ScreeningHit] = Field(default_factory=list)

    @property
    def is_clear(self) -> bool:
        """True when no screened name resembles any list entry."""
        return not self.hits


class SanctionsList(Protocol):
    """A sanctions / PEP list that can screen names."""

    async def screen(
        self,
        names: Sequence[str],
        *,
        kind: ScreeningKind = "any",
        threshold: float = DEFAULT_THRESHOLD,
    ) -> ScreeningResult:
        """Screen ``names`` and return every entry scoring at least ``threshold``.

        ``kind`` limits the entries compared: ``"person"`` only persons, ``"organization"``
        companies, organisations, legal entities and vessels, ``"any"`` everything.
        """
        ...


# --------------------------------------------------------------------------------------------
# Name normalisation and scoring
# --------------------------------------------------------------------------------------------

# Passport-style romanisation of Russian, Ukrainian and Belarusian letters (lower case only:
# names are case-folded first). Letters that carry a diacritic (й, ё, ї) are decomposed by NFKD
# before this table is applied, so they need no entries of their own.
_CYRILLIC_TO_LATIN: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
    "и": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "і": "i",
    "є": "ye", "ґ": "g", "ў": "u",
}  # fmt: skip

# Latin letters that NFKD does not decompose into a base letter plus an accent.
_LATIN_SPECIALS: dict[str, str] = {
    "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i",
}  # fmt: skip

_TRANSLITERATION = str.maketrans({**_CYRILLIC_TO_LATIN, **_LATIN_SPECIALS})

# Dots, apostrophes and slashes join what they separate ("S.A." is "sa", "O'Neil" is "oneil",
# "M/V" is "mv"); every other punctuation mark or symbol separates words.
_JOINING_CHARACTERS = frozenset(".'`´’ʼ/")

#: Words that say what kind of organisation it is, not which one. Dropped from organisation
#: names on both sides so "Oceanic Bulk Carriers Limited" and "... Ltd" are the same name.
LEGAL_FORM_TOKENS = frozenset({
    "ab", "ag", "as", "bv", "co", "company", "corp", "corporation", "fze", "fzco", "gmbh",
    "inc", "incorporated", "jsc", "kg", "limited", "llc", "llp", "lp", "ltd", "nv", "oao",
    "ojsc", "ooo", "plc", "pjsc", "pte", "pty", "sa", "sarl", "sas", "spa", "srl", "zao",
})  # fmt: skip

#: Ship prefixes of bills of lading ("MV Azure Petrel", "M/T ..."), not part of the name.
VESSEL_PREFIX_TOKENS = frozenset({"mv", "mt", "ms", "mts", "fv"})

# Weights below 1 keep an exact spelling ranked above a sound-alike or a re-spaced spelling.
_PHONETIC_WEIGHT = 0.95
_JOINED_WEIGHT = 0.97
# A person name whose every word (2 or more) appears in the other name, e.g. a missing middle
# name or patronymic: worth a review, ranked below any full-name match.
_SUBSET_SCORE = 0.88
# Every word of a multi-word name must have a counterpart at least this alike (letter for
# letter or by sound) on the other side, or the word-based score is capped below the default
# threshold: "Maria Garcia" and "Maria Garza" share a first name but not a surname.
_WORD_COUNTERPART_MIN = 0.8
_WORD_MISMATCH_CAP = 0.8
# One word against one word that is not spelled identically: too weak to stand alone, so the
# score is damped below the default threshold ("Petrova" must not hit vessel "Petrov").
_SINGLE_TOKEN_FUZZY_FACTOR = 0.85


def normalise_name(name: str, *, organisation: bool = False) -> str:
    """Reduce a name to lower-case ASCII-ish words separated by single spaces.

    Strips accents (NFKD), folds case, transliterates Cyrillic, removes punctuation and, for
    organisations, drops legal-form words and vessel prefixes (unless nothing else is left).
    """
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().translate(_TRANSLITERATION)
    text = _strip_punctuation(text)
    tokens = text.split()
    if organisation:
        tokens = _drop_organisation_noise(tokens)
    return " ".join(tokens)


def _strip_punctuation(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in _JOINING_CHARACTERS:
            continue
        category = unicodedata.category(ch)
        out.append(" " if category[0] in "PSZC" else ch)
    return "".join(out)


def _drop_organisation_noise(tokens: list[str]) -> list[str]:
    kept = [t for t in tokens if t not in LEGAL_FORM_TOKENS and t not in VESSEL_PREFIX_TOKENS]
    # "Limited Ltd" or a name made only of a legal form still has to be compared to something.
    return kept or tokens


_PHONETIC_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ph"), "f"),
    (re.compile(r"ck"), "k"),
    (re.compile(r"x"), "ks"),
    (re.compile(r"q"), "k"),
    (re.compile(r"w"), "v"),
    (re.compile(r"y"), "i"),
    (re.compile(r"c(?=[eiy])"), "s"),
    (re.compile(r"c"), "k"),
    # An h after a consonant adds no sound of its own in most romanisations (th, kh, sh, gh),
    # nor does one that is not followed by a vowel (John, Ahmed, Shah).
    (re.compile(r"(?<=[bcdfgjklmnpqrstvwxz])h"), ""),
    (re.compile(r"h(?![aeiou])"), ""),
    (re.compile(r"(.)\1+"), r"\1"),
)


def phonetic_key(normalised: str) -> str:
    """A sound-alike key of an already normalised name, word by word.

    Deliberately simple and readable rather than a full phonetic algorithm: it folds the
    spelling variants common in romanised names (y/i, ph/f, c/k/s, w/v, x/ks, a silent h,
    doubled letters) and keeps the vowels, so "Jon Smyth" and "John Smith" share a
    key while "Maria Garcia" and "Mario Garza" do not.
    """
    return " ".join(_phonetic_word(word) for word in normalised.split())


# Real lists repeat the same words (first names, "trading", "shipping") hundreds of thousands
# of times; caching the per-word key makes loading a full export markedly faster.
@functools.lru_cache(maxsize=200_000)
def _phonetic_word(word: str) -> str:
    key = word
    for pattern, replacement in _PHONETIC_RULES:
        key = pattern.sub(replacement, key)
    # Keep one key per word ("h" alone would vanish), so words and keys stay aligned.
    return key or word


@dataclass(frozen=True, slots=True)
class PreparedName:
    """A name in every form the scorer compares, computed once per list entry."""

    original: str
    normalised: str
    tokens: tuple[str, ...]
    phonetic_tokens: tuple[str, ...]
    sorted_tokens: str
    phonetic_sorted: str
    joined: str

    @property
    def token_count(self) -> int:
        """Number of words."""
        return len(self.tokens)

    @classmethod
    def build(cls, name: str, *, organisation: bool = False) -> PreparedName:
        """Prepare ``name``; ``organisation`` drops legal forms and vessel prefixes."""
        normalised = normalise_name(name, organisation=organisation)
        tokens = tuple(normalised.split())
        phonetic_tokens = tuple(phonetic_key(normalised).split())
        return cls(
            original=name,
            normalised=normalised,
            tokens=tokens,
            phonetic_tokens=phonetic_tokens,
            sorted_tokens=" ".join(sorted(tokens)),
            phonetic_sorted=" ".join(sorted(phonetic_tokens)),
            joined="".join(tokens),
        )


def score_prepared(query: PreparedName, candidate: PreparedName, *, person: bool) -> float:
    """Similarity of two prepared names in 0..1: the best of several readable comparisons.

    * literal: the words sorted alphabetically, so word order does not matter;
    * phonetic: the same on :func:`phonetic_key`, slightly discounted;
      both word-based scores are capped at 0.8 when a word of either name has no similar
      word in the other (see :func:`_every_word_has_counterpart`);
    * joined: the words glued together in their given order, so "Abdulrahman" and
      "Abd al-Rahman" compare letter by letter, slightly discounted;
    * subset (persons only): all words of the shorter name (at least two) sound alike to
      words of the longer one, a missing middle name or patronymic. Not used for
      organisations, whose shared generic words ("Global Trading") prove nothing.

    A single word against a single word only scores high when spelled identically.
    """
    if not query.normalised or not candidate.normalised:
        return 0.0
    literal = fuzz.ratio(query.sorted_tokens, candidate.sorted_tokens) / 100.0
    phonetic = _PHONETIC_WEIGHT * fuzz.ratio(query.phonetic_sorted, candidate.phonetic_sorted)
    word_score = max(literal, phonetic / 100.0)
    if not _every_word_has_counterpart(query, candidate):
        word_score = min(word_score, _WORD_MISMATCH_CAP)
    joined = _JOINED_WEIGHT * fuzz.ratio(query.joined, candidate.joined) / 100.0
    score = max(word_score, joined)
    if person and _is_token_subset(query, candidate):
        score = max(score, _SUBSET_SCORE)
    if query.token_count == 1 and candidate.token_count == 1 and literal < 1.0:
        score *= _SINGLE_TOKEN_FUZZY_FACTOR
    return round(min(1.0, max(0.0, score)), 4)


def _every_word_has_counterpart(a: PreparedName, b: PreparedName) -> bool:
    """Whether each word of either name is at least ``_WORD_COUNTERPART_MIN`` alike, letter
    for letter or by sound, to some word of the other name."""
    return _words_covered(a, b) and _words_covered(b, a)


def _words_covered(a: PreparedName, b: PreparedName) -> bool:
    cutoff = _WORD_COUNTERPART_MIN * 100.0
    for word, sound in zip(a.tokens, a.phonetic_tokens, strict=True):
        spelled = process.extractOne(word, b.tokens, scorer=fuzz.ratio, score_cutoff=cutoff)
        sounds = process.extractOne(
            sound, b.phonetic_tokens, scorer=fuzz.ratio, score_cutoff=cutoff
        )
        if spelled is None and sounds is None:
            return False
    return True


def _is_token_subset(a: PreparedName, b: PreparedName) -> bool:
    shorter, longer = sorted((a, b), key=lambda p: p.token_count)
    if shorter.token_count < 2 or shorter.token_count == longer.token_count:
        return False
    return set(shorter.phonetic_tokens) <= set(longer.phonetic_tokens)


def score_names(query: str, candidate: str, *, kind: ScreeningKind = "person") -> float:
    """Similarity in 0..1 of two raw names, as :class:`CsvSanctionsList` scores them.

    ``kind="organization"`` compares them as organisation names (legal forms ignored).
    """
    organisation = kind == "organization"
    return score_prepared(
        PreparedName.build(query, organisation=organisation),
        PreparedName.build(candidate, organisation=organisation),
        person=not organisation,
    )


def _clean_names(names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        # A bare string is a sequence of characters; screening each letter would be nonsense.
        raise TypeError("names must be a sequence of names, not a single string")
    cleaned: list[str] = []
    for name in names:
        stripped = " ".join(name.split())
        # An empty party name is a data error upstream; reporting it "clear" would hide it.
        if not normalise_name(stripped):
            raise ValueError(f"cannot screen an empty or punctuation-only name: {name!r}")
        # The same party often appears twice (shipper is also the notify party): screen once.
        if stripped not in cleaned:
            cleaned.append(stripped)
    return cleaned


def _check_arguments(kind: str, threshold: float) -> None:
    if kind not in ("person", "organization", "any"):
        raise ValueError(f"kind must be 'person', 'organization' or 'any', not {kind!r}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], not {threshold!r}")


def _top_hits(hits: Iterable[ScreeningHit], limit: int) -> list[ScreeningHit]:
    """Best hit per entry, best first, at most ``limit``."""
    best: dict[str, ScreeningHit] = {}
    for hit in hits:
        current = best.get(hit.entry_id)
        if current is None or hit.score > current.score:
            best[hit.entry_id] = hit
    ranked = sorted(best.values(), key=lambda h: (-h.score, h.entry_id))
    return ranked[:limit]


def _order_hits(per_name: list[list[ScreeningHit]]) -> list[ScreeningHit]:
    flat = [(i, hit) for i, hits in enumerate(per_name) for hit in hits]
    flat.sort(key=lambda item: (-item[1].score, item[0], item[1].entry_id))
    return [hit for _, hit in flat]


# --------------------------------------------------------------------------------------------
# Embedded list: a CSV file in the OpenSanctions targets.simple.csv shape
# --------------------------------------------------------------------------------------------

# Which groups of entries each screening kind compares against (see _build_indexes).
_CSV_GROUPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "person": ("person",),
    "organization": ("organization",),
    "any": ("person", "organization", "other"),
}

#: Columns this code reads. The other columns of targets.simple.csv (birth_date, countries,
#: addresses, identifiers, phones, emails, first_seen, last_seen, last_change) are optional.
REQUIRED_COLUMNS = ("id", "schema", "name", "aliases", "sanctions", "dataset")


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One entry of the list, as loaded from the file."""

    entry_id: str
    schema: str
    caption: str
    names: tuple[str, ...]
    topics: tuple[str, ...]
    datasets: tuple[str, ...]


class _NameIndex:
    """Every name and alias of one group of entries, pre-normalised for bulk comparison."""

    def __init__(self, *, organisation: bool) -> None:
        self.organisation = organisation
        self.prepared: list[PreparedName] = []
        self.owners: list[int] = []
        self.literal: list[str] = []
        self.phonetic: list[str] = []
        self.joined: list[str] = []
        # Phonetic word -> positions of the names containing it, for the subset rule.
        self.postings: dict[str, set[int]] = {}

    def add(self, name: str, owner: int) -> None:
        prepared = PreparedName.build(name, organisation=self.organisation)
        if not prepared.normalised:
            return
        position = len(self.prepared)
        self.prepared.append(prepared)
        self.owners.append(owner)
        self.literal.append(prepared.sorted_tokens)
        self.phonetic.append(prepared.phonetic_sorted)
        self.joined.append(prepared.joined)
        for token in prepared.phonetic_tokens:
            self.postings.setdefault(token, set()).add(position)


def _split_multi(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip() for part in value.split(";") if part.strip()]


def _topics_for_row(row: Mapping[str, str | None]) -> list[str]:
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


class CsvSanctionsList:
    """Screens names against a list file loaded once and indexed in memory.

    The file is an OpenSanctions ``targets.simple.csv`` export (or the fictional sample
    shipped in the repository): columns ``id, schema, name, aliases, ..., sanctions, ...,
    dataset, ...`` with multiple values separated by ``;``.
    """

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
        self._entries = self._parse(raw)
        digest = hashlib.sha256(raw).hexdigest()[:16]
        self.list_source = self._path.name
        self.list_version = f"sha256:{digest};rows:{len(self._entries)}"
        self._indexes = self._build_indexes(self._entries)

    @property
    def entries(self) -> tuple[ListEntry, ...]:
        """The loaded entries, in file order."""
        return self._entries

    def _parse(self, raw: bytes) -> tuple[ListEntry, ...]:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"sanctions list {self._path}: not UTF-8 text ({exc})") from exc
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        for column in REQUIRED_COLUMNS:
            if column not in header:
                raise ValueError(
                    f"sanctions list {self._path}: missing column {column!r} "
                    f"(expected the OpenSanctions targets.simple.csv shape)"
                )
        entries = []
        for row in reader:
            line = reader.line_num
            if None in row:
                raise ValueError(f"sanctions list {self._path}, line {line}: too many fields")
            entry_id = (row.get("id") or "").strip()
            name = (row.get("name") or "").strip()
            schema = (row.get("schema") or "").strip()
            if not entry_id or not name or not schema:
                raise ValueError(
                    f"sanctions list {self._path}, line {line}: id, schema and name are required"
                )
            names = [name, *(a for a in _split_multi(row.get("aliases")) if a != name)]
            entries.append(
                ListEntry(
                    entry_id=entry_id,
                    schema=schema,
                    caption=name,
                    names=tuple(dict.fromkeys(names)),
                    topics=tuple(_topics_for_row(row)),
                    datasets=tuple(_split_multi(row.get("dataset"))),
                )
            )
        if not entries:
            raise ValueError(f"sanctions list {self._path}: no entries")
        return tuple(entries)

    @staticmethod
    def _build_indexes(entries: Sequence[ListEntry]) -> dict[str, _NameIndex]:
        indexes = {
            "person": _NameIndex(organisation=False),
            "organization": _NameIndex(organisation=True),
            "other": _NameIndex(organisation=False),
        }
        for position, entry in enumerate(entries):
            if entry.schema in PERSON_SCHEMAS:
                group = "person"
            elif entry.schema in ORGANISATION_SCHEMAS:
                group = "organization"
            else:
                group = "other"
            for name in entry.names:
                indexes[group].add(name, position)
        return indexes

    async def screen(
        self,
        names: Sequence[str],
        *,
        kind: ScreeningKind = "any",
        threshold: float = DEFAULT_THRESHOLD,
    ) -> ScreeningResult:
        """Screen ``names`` (see :class:`SanctionsList`). Runs the CPU-bound matching in a
        worker thread so a large list does not stall the event loop of the activity worker."""
        return await asyncio.to_thread(self.screen_blocking, names, kind=kind, threshold=threshold)

    def screen_blocking(
        self,
        names: Sequence[str],
        *,
        kind: ScreeningKind = "any",
        threshold: float = DEFAULT_THRESHOLD,
    ) -> ScreeningResult:
        """Synchronous :meth:`screen`, for scripts and tests."""
        _check_arguments(kind, threshold)
        cleaned = _clean_names(names)
        groups = _CSV_GROUPS_BY_KIND[kind]
        per_name = []
        for name in cleaned:
            hits: list[ScreeningHit] = []
            for group in groups:
                hits.extend(self._screen_group(name, self._indexes[group], threshold))
            per_name.append(_top_hits(hits, self._max_hits))
        return ScreeningResult(
            list_source=self.list_source,
            list_version=self.list_version,
            threshold=threshold,
            screened_names=cleaned,
            hits=_order_hits(per_name),
        )

    def _screen_group(self, name: str, index: _NameIndex, threshold: float) -> list[ScreeningHit]:
        if not index.prepared:
            return []
        query = PreparedName.build(name, organisation=index.organisation)
        person = not index.organisation
        hits = []
        for i in self._candidates(query, index, threshold):
            score = score_prepared(query, index.prepared[i], person=person)
            if score < threshold:
                continue
            entry = self._entries[index.owners[i]]
            hits.append(
                ScreeningHit(
                    queried_name=name,
                    matched_name=index.prepared[i].original,
                    entry_id=entry.entry_id,
                    entry_caption=entry.caption,
                    entity_schema=entry.schema,
                    topics=list(entry.topics),
                    datasets=list(entry.datasets),
                    score=score,
                    algorithm=FUZZY_ALGORITHM,
                )
            )
        return hits

    @staticmethod
    def _candidates(query: PreparedName, index: _NameIndex, threshold: float) -> set[int]:
        """Positions of names that may reach ``threshold``, found with rapidfuzz's bulk
        scorer instead of a Python loop over the whole list. The final score is a maximum of
        components, so a name can only qualify if one component alone reaches the bar."""
        found: set[int] = set()
        for choices, query_form, weight in (
            (index.literal, query.sorted_tokens, 1.0),
            (index.phonetic, query.phonetic_sorted, _PHONETIC_WEIGHT),
            (index.joined, query.joined, _JOINED_WEIGHT),
        ):
            cutoff = min(100.0, threshold / weight * 100.0)
            for _, _, position in process.extract(
                query_form, choices, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None
            ):
                found.add(position)
        if not index.organisation and query.token_count >= 2 and _SUBSET_SCORE >= threshold:
            # Names sharing at least one word with the query; the scorer decides the rest.
            for token in set(query.phonetic_tokens):
                found.update(index.postings.get(token, ()))
        return found


# --------------------------------------------------------------------------------------------
# HTTP: an OpenSanctions / yente compatible match API
# --------------------------------------------------------------------------------------------

# FollowTheMoney schemas sent as query examples. A yente query only returns entries of the
# query's schema and its descendants, and Vessel is not a LegalEntity, so organisations and
# "any" send a second, Vessel-typed query for the same name.
_HTTP_QUERY_SCHEMAS: dict[str, tuple[str, ...]] = {
    "person": ("Person",),
    "organization": ("Organization", "Vessel"),
    "any": ("LegalEntity", "Vessel"),
}
# yente refuses batches above its MAX_BATCH setting (100 by default); stay well below.
_HTTP_MAX_QUERIES_PER_REQUEST = 50
# yente validates ``limit`` against its MAX_MATCHES setting (10).
_HTTP_MAX_LIMIT = 10
_ERROR_DETAIL_LIMIT = 200


def _redact_url(url: str) -> str:
    """``url`` without user info, query or fragment, safe for logs and audit records."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class HttpSanctionsList:
    """Screens names with the ``POST /match/{dataset}`` API of yente / OpenSanctions."""

    def __init__(
        self,
        base_url: str,
        *,
        dataset: str = "default",
        api_key: str | None = None,
        timeout_seconds: float = 10.0,
        algorithm: str | None = None,
        max_hits_per_name: int = DEFAULT_MAX_HITS_PER_NAME,
    ) -> None:
        """``algorithm`` pins a yente matching algorithm (e.g. "logic-v2"); by default the
        server's default is used. ``api_key`` is sent as ``Authorization: ApiKey <key>``."""
        if not base_url.strip():
            raise ValueError("base_url is required")
        if max_hits_per_name < 1:
            raise ValueError("max_hits_per_name must be at least 1")
        self._base_url = base_url.strip().rstrip("/")
        self._dataset = dataset
        self._api_key = api_key or None
        self._timeout = timeout_seconds
        self._algorithm = algorithm
        self._max_hits = max_hits_per_name
        self._match_url = f"{self._base_url}/match/{quote(dataset, safe='')}"
        self.list_source = _redact_url(self._match_url)
        self.list_version = f"dataset:{dataset}"
        self._algorithm_label = f"yente:{algorithm or 'server-default'}"

    async def screen(
        self,
        names: Sequence[str],
        *,
        kind: ScreeningKind = "any",
        threshold: float = DEFAULT_THRESHOLD,
    ) -> ScreeningResult:
        """Screen ``names`` (see :class:`SanctionsList`).

        Raises ScreeningUnavailable for timeouts, connection failures, 5xx, 429 and garbled
        answers; ScreeningRequestRejected for other 4xx answers.
        """
        _check_arguments(kind, threshold)
        cleaned = _clean_names(names)
        queries: dict[str, tuple[int, dict[str, Any]]] = {}
        for i, name in enumerate(cleaned):
            for n, schema in enumerate(_HTTP_QUERY_SCHEMAS[kind]):
                key = f"q{i}" if n == 0 else f"q{i}_{schema.lower()}"
                queries[key] = (i, {"schema": schema, "properties": {"name": [name]}})

        per_name: list[list[ScreeningHit]] = [[] for _ in cleaned]
        keys = list(queries)
        for start in range(0, len(keys), _HTTP_MAX_QUERIES_PER_REQUEST):
            batch = {k: queries[k][1] for k in keys[start : start + _HTTP_MAX_QUERIES_PER_REQUEST]}
            responses = await self._post(batch, threshold)
            for key in batch:
                i = queries[key][0]
                per_name[i].extend(
                    self._parse_response(key, responses.get(key), cleaned[i], kind, threshold)
                )
        return ScreeningResult(
            list_source=self.list_source,
            list_version=self.list_version,
            threshold=threshold,
            screened_names=cleaned,
            hits=_order_hits([_top_hits(hits, self._max_hits) for hits in per_name]),
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    async def _post(self, queries: dict[str, Any], threshold: float) -> Mapping[str, Any]:
        params: dict[str, str | int | float] = {
            "threshold": threshold,
            "limit": min(self._max_hits, _HTTP_MAX_LIMIT),
        }
        if self._algorithm:
            params["algorithm"] = self._algorithm
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"ApiKey {self._api_key}"
        where = self.list_source
        try:
            async with httpx2.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    self._match_url, json={"queries": queries}, params=params, headers=headers
                )
        except httpx2.TimeoutException as exc:
            raise ScreeningUnavailable(
                f"sanctions screening at {where} timed out after {self._timeout:g}s"
            ) from exc
        except httpx2.TransportError as exc:
            raise ScreeningUnavailable(
                f"sanctions screening at {where} is unreachable ({type(exc).__name__})"
            ) from exc

        status = response.status_code
        if status == 429 or status >= 500:
            raise ScreeningUnavailable(
                f"sanctions screening at {where} answered HTTP {status}; retry later"
            )
        if status >= 400:
            raise ScreeningRequestRejected(
                f"sanctions screening at {where} rejected the request with HTTP {status}: "
                f"{self._error_detail(response)}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise ScreeningUnavailable(
                f"sanctions screening at {where} answered HTTP {status} with invalid JSON"
            ) from exc
        responses = body.get("responses") if isinstance(body, dict) else None
        if not isinstance(responses, dict):
            raise ScreeningUnavailable(
                f"sanctions screening at {where} answered without a 'responses' object"
            )
        return responses

    def _error_detail(self, response: httpx2.Response) -> str:
        try:
            body = response.json()
            detail = body.get("detail") if isinstance(body, dict) else None
            text = str(detail) if detail is not None else response.text
        except ValueError:
            text = response.text
        text = " ".join(self._redact(text).split())
        return text[:_ERROR_DETAIL_LIMIT] or "(no detail)"

    def _parse_response(
        self,
        key: str,
        answer: Any,
        queried_name: str,
        kind: ScreeningKind,
        threshold: float,
    ) -> list[ScreeningHit]:
        where = self.list_source
        # A missing or failed answer must not read as "no hits": that would clear the name.
        if not isinstance(answer, dict):
            raise ScreeningUnavailable(f"sanctions screening at {where} gave no answer for {key}")
        status = answer.get("status", 200)
        if status != 200:
            error = ScreeningRequestRejected if 400 <= int(status) < 500 else ScreeningUnavailable
            raise error(f"sanctions screening at {where} answered {status} for query {key}")
        results = answer.get("results")
        if not isinstance(results, list):
            raise ScreeningUnavailable(f"sanctions screening at {where}: no results for {key}")
        hits = []
        for result in results:
            try:
                hit = self._hit_from_result(result, queried_name)
            except (KeyError, TypeError, ValueError) as exc:
                raise ScreeningUnavailable(
                    f"sanctions screening at {where}: malformed result for {key} ({exc})"
                ) from exc
            if hit.score >= threshold and _schema_allowed_http(hit.entity_schema, kind):
                hits.append(hit)
        return hits

    def _hit_from_result(self, result: Mapping[str, Any], queried_name: str) -> ScreeningHit:
        properties = result.get("properties") or {}
        names = [
            value
            for prop in ("name", "alias", "weakAlias", "previousName")
            for value in properties.get(prop, [])
            if isinstance(value, str) and value.strip()
        ]
        caption = str(result.get("caption") or (names[0] if names else result["id"]))
        return ScreeningHit(
            queried_name=queried_name,
            matched_name=_closest_name(queried_name, names) or caption,
            entry_id=str(result["id"]),
            entry_caption=caption,
            entity_schema=str(result["schema"]),
            topics=[str(t) for t in properties.get("topics", [])],
            datasets=[str(d) for d in result.get("datasets", [])],
            score=min(1.0, max(0.0, float(result["score"]))),
            algorithm=self._algorithm_label,
        )


def _schema_allowed_http(schema: str, kind: ScreeningKind) -> bool:
    # The server already scoped results by query schema (which includes descendants such as
    # PublicBody), so the client only enforces the person / non-person split.
    if kind == "person":
        return schema in PERSON_SCHEMAS
    if kind == "organization":
        return schema not in PERSON_SCHEMAS
    return True


def _closest_name(queried_name: str, names: Sequence[str]) -> str | None:
    """The entry name most like the query: yente scores the entity, not a single name, but a
    reviewer wants to see which spelling was close."""
    if not names:
        return None
    return max(names, key=lambda n: score_names(queried_name, n, kind="any"))


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def sanctions_list_from_config(
    list_path: str | None, url: str | None, api_key: str | None
) -> SanctionsList:
    """The configured list: the HTTP API when ``url`` is set, otherwise the CSV file at
    ``list_path``, otherwise the fictional sample shipped in the repository. Blank strings
    (unset environment variables) count as not set."""
    if url and url.strip():
        return HttpSanctionsList(url.strip(), api_key=(api_key or "").strip() or None)
    if list_path and list_path.strip():
        return CsvSanctionsList(list_path.strip())
    return CsvSanctionsList(DEFAULT_LIST_PATH)
