"""A loaded list, indexed once, screened many times: the embedded screening behind
:class:`~activities.connectors.sanctions.lists.ListFile`.

Comparing a name with every name of a list of a million entries would take seconds, so the
index first finds the names that share at least two parts with the query (one, for one-part
names), where "share" means the same phonetic key, the same consonants (a part written in
Arabic letters), a key one edit away (a typo), or two adjacent parts glued into one. Only
those candidates are scored by :func:`~activities.connectors.sanctions.matching.compare_names`.
"""

from __future__ import annotations

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

# Keys shorter than this are not looked up one edit away: "li" and "le" are different names.
_TYPO_KEY_MIN = 4
# Latin parts look each other up by consonants only from this many consonants on: shorter
# skeletons ("mr" for Maria, Mario, Omar) would make most of a list a candidate.
_SKELETON_LOOKUP_MIN = 4


def _deletions(key: str) -> set[str]:
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


class NameIndex:
    """Every name and alias of one group of entries (persons, or organisations)."""

    def __init__(self, *, organisation: bool) -> None:
        self.organisation = organisation
        self.names: list[PreparedName] = []
        self.owners: list[int] = []
        self._part_counts: list[int] = []
        self._building: dict[str, list[int]] = {}
        self._postings: dict[str, npt.NDArray[np.int32]] = {}
        # Deletion neighbourhood of the vocabulary: key minus one letter -> keys.
        self._one_deleted: dict[str, set[str]] = {}
        self._counts_array: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)

    def add(self, name: str, owner: int) -> None:
        """Index ``name`` as a name of the entry at position ``owner``."""
        prepared = prepare_name(name, organisation=self.organisation)
        if not prepared.parts:
            return
        position = len(self.names)
        self.names.append(prepared)
        self.owners.append(owner)
        self._part_counts.append(len(prepared.parts))
        for key in _record_keys(prepared.parts):
            self._building.setdefault(key, []).append(position)

    def freeze(self) -> None:
        """Finish building: postings become compact arrays, the typo neighbourhood is built."""
        for key, positions in self._building.items():
            self._postings[key] = np.unique(np.asarray(positions, dtype=np.int32))
            if key.startswith("k") and len(key) - 1 >= _TYPO_KEY_MIN:
                for deleted in _deletions(key[1:]):
                    self._one_deleted.setdefault(deleted, set()).add(key[1:])
        self._building = {}
        self._counts_array = np.asarray(self._part_counts, dtype=np.int32)
        self._part_counts = []

    def candidates(self, query: PreparedName, threshold: float) -> Iterable[int]:
        """Positions of names sharing enough parts with ``query`` to be worth scoring."""
        if not self.names or not query.parts:
            return []
        per_part: list[set[str]] = [set() for _ in query.parts]
        for i, part in enumerate(query.parts):
            per_part[i] |= self._lookup_keys(part)
        for i in range(len(query.parts) - 1):
            glued = _glue(query.parts[i : i + 2])
            keys = {"k" + glued.key}
            per_part[i] |= keys
            per_part[i + 1] |= keys
        hits = [self._positions(keys) for keys in per_part]
        if not hits:
            return []
        everything = np.concatenate(hits)
        if everything.size == 0:
            return []
        counts = np.bincount(everything, minlength=len(self.names))
        if len(query.parts) == 1:
            found = counts >= 1
            if threshold > ONE_PART_CAP:
                # One part reaches the threshold only against a name of one or two parts.
                found &= self._counts_array <= 2
        else:
            found = (counts >= 2) | ((counts >= 1) & (self._counts_array == 1))
        return np.nonzero(found)[0].tolist()

    def _lookup_keys(self, part: NamePart) -> set[str]:
        keys = {"k" + key for key in _keys_with_particle_off(part)}
        if len(part.skeleton) >= 2:
            keys.add("S" + part.skeleton)
            # Vowels are where romanisations differ most ("Zvonaryov", "Papadopoylos"):
            # a long enough skeleton finds them when the key is more than a typo away.
            if part.vowelless or len(part.skeleton) >= _SKELETON_LOOKUP_MIN:
                keys.add("s" + part.skeleton)
        if len(part.key) >= _TYPO_KEY_MIN:
            for near in self._one_deleted.get(part.key, ()):
                keys.add("k" + near)
            for deleted in _deletions(part.key):
                keys.add("k" + deleted)
                for near in self._one_deleted.get(deleted, ()):
                    keys.add("k" + near)
        return keys

    def _positions(self, keys: set[str]) -> npt.NDArray[np.int32]:
        arrays = [self._postings[k] for k in keys if k in self._postings]
        if not arrays:
            return np.zeros(0, dtype=np.int32)
        if len(arrays) == 1:
            return arrays[0]
        return np.unique(np.concatenate(arrays))


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
