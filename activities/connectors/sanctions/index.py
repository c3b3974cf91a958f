"""A loaded list, indexed once, screened many times: the embedded screening behind
:class:`~activities.connectors.sanctions.lists.ListFile`.

Comparing a name with every name of a list of a million entries would take seconds, so the
index first finds the names that share at least two parts with the query (one, for one-part
names), where "share" means the same phonetic key, the same consonants (a part written in
Arabic letters), a key one edit away (a typo), or two adjacent parts glued into one. Only
those candidates are scored by :func:`~activities.connectors.sanctions.matching.compare_names`.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from activities.connectors.sanctions.matching import (
    JOINED_PARTICLES,
    MATCHER_VERSION,
    ONE_PART_CAP,
    EntryFacts,
    compare_names,
    weigh_evidence,
)
from activities.connectors.sanctions.models import (
    ORGANISATION_SCHEMAS,
    PERSON_SCHEMAS,
    ListEntry,
    QueryEvidence,
    ScreeningHit,
)
from activities.connectors.sanctions.names import NamePart, PreparedName, name_part, prepare_name

# Parts shorter than this are not looked up one edit away: the matcher counts one edit in
# four letters as a different name ("Yang" and "Wang", 0.75), so only a part of five letters
# can be one edit from another (0.8); a four-letter key can still lack a letter of a
# five-letter one.
_TYPO_KEY_MIN = 5
# Latin parts look each other up by consonants only from this many consonants on: shorter
# skeletons ("mr" for Maria, Mario, Omar) would make most of a list a candidate.
_SKELETON_LOOKUP_MIN = 4
# Sorting positions costs more than one pass over a mask of the whole index once they are
# more than this share of it (1/16).
_DENSE_SHARE = 16


def _deletions(key: str) -> set[str]:
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


class _Postings:
    """Positions by key, as two sorted arrays: a million names take tens of megabytes, not
    the gigabytes a dictionary of lists would. Keys are stored by their hash; a collision
    only adds a candidate, which the scorer then turns down."""

    def __init__(self) -> None:
        self._hashes = array("q")
        self._positions = array("i")
        self._keys = np.zeros(0, dtype=np.int64)
        self._starts = np.zeros(0, dtype=np.int64)
        self._values = np.zeros(0, dtype=np.int32)

    def add(self, key: str, position: int) -> None:
        self._hashes.append(hash(key))
        self._positions.append(position)

    def freeze(self) -> None:
        hashes = (
            np.frombuffer(self._hashes, dtype=np.int64) if self._hashes else np.zeros(0, np.int64)
        )
        values = (
            np.frombuffer(self._positions, dtype=np.int32)
            if self._positions
            else np.zeros(0, np.int32)
        )
        order = np.lexsort((values, hashes))
        hashes = hashes[order]
        self._values = values[order]
        self._keys, self._starts = np.unique(hashes, return_index=True)
        self._starts = np.append(self._starts, len(hashes))
        self._hashes, self._positions = array("q"), array("i")

    def get(self, key: str) -> npt.NDArray[np.int32] | None:
        h = hash(key)
        i = int(np.searchsorted(self._keys, h))
        if i >= len(self._keys) or self._keys[i] != h:
            return None
        return self._values[self._starts[i] : self._starts[i + 1]]


class NameIndex:
    """Every name and alias of one group of entries (persons, or organisations)."""

    def __init__(self, *, organisation: bool) -> None:
        self.organisation = organisation
        self.names: list[PreparedName] = []
        self.owners = array("i")
        self._part_counts = array("b")
        self._postings = _Postings()
        # Deletion neighbourhood of the vocabulary: a key minus one letter -> the key.
        self._vocabulary: set[str] = set()
        self._one_deleted = _Postings()
        self._neighbours: list[str] = []
        self._counts_array: npt.NDArray[np.int8] = np.zeros(0, dtype=np.int8)

    def add(self, name: str, owner: int) -> None:
        """Index ``name`` as a name of the entry at position ``owner``."""
        prepared = prepare_name(name, organisation=self.organisation)
        if not prepared.parts:
            return
        position = len(self.names)
        self.names.append(prepared)
        self.owners.append(owner)
        self._part_counts.append(min(len(prepared.parts), 127))
        for key in _record_keys(prepared.parts):
            self._postings.add(key, position)
            if key.startswith("k") and len(key) - 1 >= _TYPO_KEY_MIN - 1:
                self._vocabulary.add(key[1:])

    def freeze(self) -> None:
        """Finish building: postings become compact arrays, the typo neighbourhood is built."""
        self._postings.freeze()
        self._neighbours = sorted(self._vocabulary)
        for n, key in enumerate(self._neighbours):
            for deleted in _deletions(key):
                self._one_deleted.add(deleted, n)
        self._one_deleted.freeze()
        self._vocabulary = set()
        self._counts_array = np.frombuffer(self._part_counts, dtype=np.int8).copy()
        self._part_counts = array("b")

    def candidates(self, query: PreparedName, threshold: float) -> Iterable[int]:
        """Positions of names sharing enough parts with ``query`` to be worth scoring: two
        parts (one, against a one-part name), each part counted once even when two parts of
        the query look up the same keys ("Elena Elnea" against a lone "Elena")."""
        if not self.names or not query.parts:
            return []
        per_part = [self._lookup_keys(part) for part in query.parts]
        # Two adjacent parts glued ("Bao Qiang" for "Baoqiang") count as one more part.
        glued = [{"k" + _glue(query.parts[i : i + 2]).key} for i in range(len(query.parts) - 1)]
        positions, by_part = self._count(per_part + glued)
        if positions.size == 0:
            return []
        part_counts = self._counts_array[positions]
        if len(query.parts) == 1:
            found = by_part >= 1
            if threshold > ONE_PART_CAP:
                # One part reaches the threshold only against a name of one or two parts.
                found &= part_counts <= 2
            return positions[found].tolist()
        found = (by_part >= 2) | (part_counts == 1)
        merged = _merge_overlapping(per_part)
        if len(merged) > 1:
            at, by_group = self._count(merged + glued)
            distinct = np.isin(positions, at[by_group >= 2])
            found &= distinct | (part_counts == 1)
        return positions[found].tolist()

    def _count(self, groups: list[set[str]]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """Every position found by any group of keys, and by how many groups."""
        everything = np.concatenate([self._positions(keys) for keys in groups])
        if everything.size * _DENSE_SHARE < len(self.names):
            positions, counts = np.unique(everything, return_counts=True)
            return positions, counts
        dense = np.bincount(everything, minlength=len(self.names))
        positions = np.flatnonzero(dense).astype(np.int32)
        return positions, dense[positions]

    def _lookup_keys(self, part: NamePart) -> set[str]:
        keys = {"k" + key for key in _keys_with_particle_off(part)}
        if len(part.skeleton) >= 2:
            keys.add("S" + part.skeleton)
            # Vowels are where romanisations differ most ("Zvonaryov", "Papadopoylos"):
            # a long enough skeleton finds them when the key is more than a typo away.
            if part.vowelless or len(part.skeleton) >= _SKELETON_LOOKUP_MIN:
                keys.add("s" + part.skeleton)
        if len(part.key) >= _TYPO_KEY_MIN - 1:
            # One edit away: the query lacks a letter of a listed key ...
            keys.update("k" + self._neighbours[n] for n in self._near(part.key))
        if max(len(part.key), len(part.text)) >= _TYPO_KEY_MIN:
            # ... has one more, or one other ("Smtih": a five-letter spelling, though its
            # key has four).
            for deleted in _deletions(part.key):
                keys.add("k" + deleted)
                keys.update("k" + self._neighbours[n] for n in self._near(deleted))
        return keys

    def _near(self, deleted: str) -> list[int]:
        found = self._one_deleted.get(deleted)
        return [] if found is None else found.tolist()

    def _positions(self, keys: set[str]) -> npt.NDArray[np.int32]:
        arrays = [a for a in (self._postings.get(k) for k in keys) if a is not None]
        if not arrays:
            return np.zeros(0, dtype=np.int32)
        if len(arrays) == 1:
            return arrays[0]
        everything = np.concatenate(arrays)
        if everything.size * _DENSE_SHARE < len(self.names):
            return np.unique(everything)
        seen = np.zeros(len(self.names), dtype=np.bool_)
        seen[everything] = True
        return np.flatnonzero(seen).astype(np.int32)


def _merge_overlapping(groups: list[set[str]]) -> list[set[str]]:
    """Parts that look up the same keys are one part for counting: "Elena Elnea" shares
    its keys between both words, and must not count twice against a lone "Elena"."""
    merged: list[set[str]] = []
    for keys in groups:
        for existing in [m for m in merged if m & keys]:
            keys = keys | existing
            merged.remove(existing)
        merged.append(keys)
    return merged


def _keys_with_particle_off(part: NamePart) -> set[str]:
    """The part's key, and the key without a particle written joined to it ("Alharbi")."""
    keys = {part.key}
    for particle in JOINED_PARTICLES:
        if part.text.startswith(particle) and len(part.text) - len(particle) >= 4:
            keys.add(name_part(part.text[len(particle) :], part.vowelless).key)
    return keys


def _glue(parts: Sequence[NamePart]) -> NamePart:
    return name_part("".join(p.text for p in parts), any(p.vowelless for p in parts))


def _record_keys(parts: Sequence[NamePart]) -> set[str]:
    """The keys a list name is found by: each part's phonetic key and consonants, and the
    key of each two adjacent parts glued together."""
    keys: set[str] = set()
    for part in parts:
        keys.update("k" + key for key in _keys_with_particle_off(part))
        if len(part.skeleton) >= 2:
            keys.add(("S" if part.vowelless else "s") + part.skeleton)
    for i in range(len(parts) - 1):
        keys.add("k" + _glue(parts[i : i + 2]).key)
    return keys


# Which groups of entries each screening kind compares against.
GROUPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "person": ("person",),
    "organization": ("organization",),
    "any": ("person", "organization", "other"),
}


class ListIndex:
    """The indexes of one loaded list, one per group of entries."""

    def __init__(self, entries: Sequence[ListEntry]) -> None:
        self.entries = entries
        self.groups = {
            "person": NameIndex(organisation=False),
            "organization": NameIndex(organisation=True),
            "other": NameIndex(organisation=False),
        }
        for position, entry in enumerate(entries):
            if entry.schema in PERSON_SCHEMAS:
                group = "person"
            elif entry.schema in ORGANISATION_SCHEMAS:
                group = "organization"
            else:
                group = "other"
            for name in entry.names:
                self.groups[group].add(name, position)
        for index in self.groups.values():
            index.freeze()

    def screen_name(
        self,
        name: str,
        group: str,
        threshold: float,
        evidence: QueryEvidence | None,
    ) -> list[ScreeningHit]:
        """Every entry of ``group`` whose best name, with the evidence, reaches
        ``threshold``: one hit per entry, its best-scoring name."""
        index = self.groups[group]
        query = prepare_name(name, organisation=index.organisation)
        best: dict[int, ScreeningHit] = {}
        for position in index.candidates(query, threshold):
            match = compare_names(query, index.names[position], person=not index.organisation)
            owner = index.owners[position]
            entry = self.entries[owner]
            adjustment, evidence_reasons = weigh_evidence(
                evidence, EntryFacts(entry.schema, entry.birth_dates, entry.countries)
            )
            score = round(max(0.0, min(1.0, match.score + adjustment)), 4)
            if score < threshold:
                continue
            current = best.get(owner)
            if current is not None and current.score >= score:
                continue
            best[owner] = ScreeningHit(
                queried_name=name,
                matched_name=index.names[position].original,
                entry_id=entry.entry_id,
                entry_caption=entry.caption,
                entity_schema=entry.schema,
                topics=list(entry.topics),
                datasets=list(entry.datasets),
                score=score,
                algorithm=MATCHER_VERSION,
                name_score=match.score,
                reasons=match.reasons() + evidence_reasons,
            )
        return list(best.values())

    def screen(
        self,
        names: Sequence[str],
        kind: str,
        threshold: float,
        evidence: QueryEvidence | None,
        max_hits_per_name: int,
    ) -> list[ScreeningHit]:
        """The hits of every name, best first: at most ``max_hits_per_name`` entries each."""
        per_name = []
        for name in names:
            hits: list[ScreeningHit] = []
            for group in GROUPS_BY_KIND[kind]:
                hits.extend(self.screen_name(name, group, threshold, evidence))
            per_name.append(top_hits(hits, max_hits_per_name))
        return order_hits(per_name)


def top_hits(hits: Iterable[ScreeningHit], limit: int) -> list[ScreeningHit]:
    """Best hit per entry, best first, at most ``limit``."""
    best: dict[str, ScreeningHit] = {}
    for hit in hits:
        current = best.get(hit.entry_id)
        if current is None or hit.score > current.score:
            best[hit.entry_id] = hit
    ranked = sorted(best.values(), key=lambda h: (-h.score, h.entry_id))
    return ranked[:limit]


def order_hits(per_name: list[list[ScreeningHit]]) -> list[ScreeningHit]:
    """All names' hits in one list, best first, then in the order the names were given."""
    flat = [(i, hit) for i, hits in enumerate(per_name) for hit in hits]
    flat.sort(key=lambda item: (-item[1].score, item[0], item[1].entry_id))
    return [hit for _, hit in flat]
