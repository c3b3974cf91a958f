"""Whether two names, and the facts around them, belong to the same party: a score in 0..1
and the reasons a reviewer reads.

The method follows OpenSanctions' matchers (nomenklatura, yente) in spirit: names are taken
apart into parts (:mod:`.names`), each part of one name is aligned with its most similar
part of the other, and the score says how much of the shorter name found its counterpart.

* A part matches another when it is spelled the same (1.0), sounds the same by its phonetic
  key (0.95), has the same consonants while one side was written without vowels (Arabic:
  0.9) or with other vowels (0.85), or differs by a typo or two (edit similarity, at least
  0.8 to count at all).
* Two adjacent parts may match one ("Abd Rahman" and "Abdulrahman", "Jin Ping" and
  "Jinping"); word order never matters ("SURNAME, Given").
* Every part of the shorter name (persons: at least two) must find a counterpart: one
  shared first or family name is not a match. Parts of the longer name left over (a middle
  name, a patronymic) cost a little each.
* Date of birth, countries and entity type then move the score: a birth date years apart
  makes a different person of a namesake, the same date confirms.

Bump :data:`MATCHER_VERSION` whenever a rule or weight changes: the version is recorded with
every screening, so a hit recorded today can be explained after the rules were tuned.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from activities.connectors.sanctions.models import PERSON_SCHEMAS, QueryEvidence, ScreeningKind
from activities.connectors.sanctions.names import NamePart, PreparedName, name_part, prepare_name

MATCHER_VERSION = "sluice-names/2"

SAME_SOUND = 0.95
SAME_CONSONANTS = 0.9
# Romanisations of the same name differ most in their vowels (Mohammed, Muhammad), but so do
# different names: counted only for three consonants or more and the same first letter.
VOWELS_APART = 0.85
# Below this edit similarity two parts are different names ("Garcia"/"Garza" is 0.67), and
# parts of three letters or fewer must be spelled the same or sound the same ("Li"/"Le").
TYPO_MIN = 0.8
TYPO_MIN_LENGTH = 4
# An initial ("J.") stands for a part starting with that letter, weakly.
INITIAL = 0.7
# Each part of the longer name without a counterpart: a dropped middle name or patronymic.
LEFT_OVER_COST = 0.04
LEFT_OVER_COST_MAX = 0.12
# One part against a longer name: a first or family name alone identifies nobody.
ONE_PART_CAP = 0.6
# One part against one part, not spelled the same: too weak to stand alone ("Petrova" must
# not hit the vessel "Petrov").
ONE_PART_FUZZY_FACTOR = 0.85

# Evidence. A birth year differing by more than a year is a different person with the same
# name far more often than a data error; the same full date is strong confirmation.
BIRTH_DATE_SAME = 0.05
BIRTH_YEAR_SAME = 0.02
BIRTH_YEAR_APART = -0.2
COUNTRY_SHARED = 0.02
COUNTRY_DISJOINT = -0.05


# Particles written joined to the name they belong to ("Alharbi", "Vanderberg", "Dellarosa").
JOINED_PARTICLES = ("al", "el", "van", "von", "de", "del", "della", "di", "da")


@dataclass(frozen=True, slots=True)
class PartMatch:
    """One aligned pair: query part(s), candidate part(s), how alike and why."""

    query: str
    candidate: str
    similarity: float
    how: str


@dataclass(frozen=True, slots=True)
class NameMatch:
    """The comparison of two names: the score and the aligned parts behind it."""

    score: float
    pairs: tuple[PartMatch, ...]
    left_over: tuple[str, ...]  # parts of either name without a counterpart
    note: str = ""

    def reasons(self) -> list[str]:
        """The comparison in words, for the screening hit."""
        lines = [f"'{p.query}' ~ '{p.candidate}': {p.how} ({p.similarity:.2f})" for p in self.pairs]
        if self.left_over:
            lines.append("without counterpart: " + ", ".join(f"'{p}'" for p in self.left_over))
        if self.note:
            lines.append(self.note)
        return lines


# Lists and queries repeat the same parts (given names above all): each pair is judged once.
@functools.lru_cache(maxsize=1_000_000)
def part_similarity(a: NamePart, b: NamePart) -> tuple[float, str]:
    """How alike two name parts are, and the rule that says so."""
    if a.text == b.text:
        return 1.0, "same spelling"
    if a.key == b.key:
        return SAME_SOUND, "same sound"
    shorter, longer = sorted((a.text, b.text), key=len)
    if longer == shorter + "a" and len(shorter) >= 4:
        # Petrov and Petrova, Aleksandr and Aleksandra: the same family, another person.
        return 0.0, ""
    if any(longer == prefix + shorter for prefix in JOINED_PARTICLES) and len(shorter) >= 4:
        return SAME_SOUND, "same name with its particle joined"
    if (a.vowelless or b.vowelless) and len(a.skeleton) >= 2 and a.skeleton == b.skeleton:
        return SAME_CONSONANTS, "same consonants, written without vowels"
    if (
        len(a.skeleton) >= 3
        and a.skeleton == b.skeleton
        and a.key[0] == b.key[0]
        and abs(len(a.key) - len(b.key)) <= 1
    ):
        return VOWELS_APART, "same consonants, other vowels"
    if min(len(a.text), len(b.text)) == 1:
        if a.text[0] == b.text[0]:
            return INITIAL, "initial"
        return 0.0, ""
    if min(len(a.key), len(b.key)) < TYPO_MIN_LENGTH:
        return 0.0, ""
    similarity = max(
        OSA.normalized_similarity(a.text, b.text), OSA.normalized_similarity(a.key, b.key)
    )
    if similarity >= TYPO_MIN:
        return round(similarity, 4), "close spelling"
    return 0.0, ""


def _joined(parts: Sequence[NamePart]) -> NamePart:
    text = "".join(p.text for p in parts)
    return name_part(text, any(p.vowelless for p in parts))


def compare_names(query: PreparedName, candidate: PreparedName, *, person: bool) -> NameMatch:
    """Align the parts of two prepared names and score them (see the module docstring)."""
    q, c = query.parts, candidate.parts
    if not q or not c:
        return NameMatch(0.0, (), ())
    if query.text == candidate.text:
        same = tuple(PartMatch(p.text, p.text, 1.0, "same spelling") for p in q)
        return NameMatch(1.0, same, ())

    # Every pairing worth considering: one part with one part, and one part with two
    # adjacent parts of the other name glued together. Parts are bits of an int mask.
    options: list[tuple[float, int, int, int, str, str, str]] = []
    for i, qp in enumerate(q):
        for j, cp in enumerate(c):
            sim, how = part_similarity(qp, cp)
            if sim > 0:
                options.append((sim, 1, 1 << i, 1 << j, qp.text, cp.text, how))
    # Gluing two parts into one changes how many parts a name has: between names with as
    # many parts each, it would leave a part of each without a counterpart anyway.
    if len(q) != len(c):
        for one, two, one_is_query in ((q, c, True), (c, q, False)):
            for j in range(len(two) - 1):
                glued = _joined(two[j : j + 2])
                text = f"{two[j].text} {two[j + 1].text}"
                for i, part in enumerate(one):
                    sim, how = part_similarity(part, glued)
                    if sim < SAME_SOUND and how != "close spelling":
                        continue
                    span = 0b11 << j
                    options.append(
                        (sim, 2, 1 << i, span, part.text, text, how)
                        if one_is_query
                        else (sim, 2, span, 1 << i, text, part.text, how)
                    )
    # Greedy: the most alike pairings first, longer spans first on ties, then by text so
    # that comparing a with b aligns exactly as comparing b with a.
    options.sort(key=lambda o: (-o[0], -o[1], min(o[4], o[5]), max(o[4], o[5])))
    used_q = used_c = 0
    pairs: list[PartMatch] = []
    covered_q: dict[int, float] = {}
    covered_c: dict[int, float] = {}
    for sim, _, qi, cj, qtext, ctext, how in options:
        if qi & used_q or cj & used_c:
            continue
        used_q |= qi
        used_c |= cj
        pairs.append(PartMatch(qtext, ctext, sim, how))
        for i in range(len(q)):
            if qi >> i & 1:
                covered_q[i] = sim
        for j in range(len(c)):
            if cj >> j & 1:
                covered_c[j] = sim

    q_cover = _coverage(q, covered_q)
    c_cover = _coverage(c, covered_c)
    left_over = tuple(
        [p.text for i, p in enumerate(q) if i not in covered_q]
        + [p.text for j, p in enumerate(c) if j not in covered_c]
    )
    # The shorter name (by parts) must be covered; the longer one's leftovers cost a little.
    if len(q) < len(c):
        score, longer_left = q_cover, len(c) - len(covered_c)
    elif len(q) > len(c):
        score, longer_left = c_cover, len(q) - len(covered_q)
    else:
        score, longer_left = (q_cover + c_cover) / 2, 0
    score -= min(LEFT_OVER_COST * longer_left, LEFT_OVER_COST_MAX)
    note = ""
    shorter = min(len(q), len(c))
    if shorter == 1 and max(len(q), len(c)) > 1 and not _one_word_spans_both(pairs):
        if score > ONE_PART_CAP:
            note = "a single name part against a longer name identifies nobody"
        score = min(score, ONE_PART_CAP)
    elif len(q) == 1 and len(c) == 1 and pairs and pairs[0].similarity < 1.0:
        score *= ONE_PART_FUZZY_FACTOR
        note = "one part against one part counts only when spelled the same"
    if not person and score < 1.0:
        # Organisation names share generic words ("Global Trading", "Meridian Shipping"):
        # both names must be covered, not only the shorter one.
        score = min(score, (q_cover * c_cover) ** 0.5)
    return NameMatch(round(max(0.0, min(1.0, score)), 4), tuple(pairs), left_over, note)


def _one_word_spans_both(pairs: Sequence[PartMatch]) -> bool:
    """Whether a single part matched two glued parts ("Abdulrahman" and "Abd Rahman")."""
    return len(pairs) == 1 and (" " in pairs[0].query or " " in pairs[0].candidate)


def _coverage(parts: Sequence[NamePart], covered: dict[int, float]) -> float:
    """Share of the name, weighted by part length, that found a counterpart."""
    weights = [max(2, min(len(p.key), 8)) for p in parts]
    total = sum(weights)
    return sum(w * covered.get(i, 0.0) for i, w in enumerate(weights)) / total


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """What a list entry says besides its names."""

    schema: str
    birth_dates: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()


def weigh_evidence(evidence: QueryEvidence | None, facts: EntryFacts) -> tuple[float, list[str]]:
    """The adjustment the query's facts make to a name score, and why."""
    if evidence is None:
        return 0.0, []
    adjustment = 0.0
    reasons: list[str] = []
    if evidence.birth_date and facts.birth_dates and facts.schema in PERSON_SCHEMAS:
        delta, reason = _birth_date_evidence(evidence.birth_date, facts.birth_dates)
        adjustment += delta
        reasons.append(reason)
    mine = {c.strip().casefold() for c in evidence.countries if c.strip()}
    theirs = {c.strip().casefold() for c in facts.countries if c.strip()}
    if mine and theirs:
        if mine & theirs:
            adjustment += COUNTRY_SHARED
            reasons.append(
                f"country {', '.join(sorted(mine & theirs))} shared ({COUNTRY_SHARED:+.2f})"
            )
        else:
            adjustment += COUNTRY_DISJOINT
            reasons.append(
                f"countries {', '.join(sorted(mine))} not among the listed "
                f"{', '.join(sorted(theirs))} ({COUNTRY_DISJOINT:+.2f})"
            )
    return adjustment, reasons


def _birth_date_evidence(queried: str, listed: Sequence[str]) -> tuple[float, str]:
    q = queried.strip()[:10]
    if any(d[:10] == q and len(q) == 10 for d in listed):
        return BIRTH_DATE_SAME, f"same date of birth {q} ({BIRTH_DATE_SAME:+.2f})"
    years = {d[:4] for d in listed if d[:4].isdigit()}
    year = q[:4]
    if not year.isdigit() or not years:
        return 0.0, f"date of birth {q} not comparable with the listed {', '.join(listed)}"
    if year in years:
        return BIRTH_YEAR_SAME, f"same year of birth {year} ({BIRTH_YEAR_SAME:+.2f})"
    gap = min(abs(int(year) - int(y)) for y in years)
    if gap <= 1:
        return 0.0, f"year of birth {year} one year from the listed {', '.join(sorted(years))}"
    return BIRTH_YEAR_APART, (
        f"year of birth {year} is {gap} years from the listed {', '.join(sorted(years))} "
        f"({BIRTH_YEAR_APART:+.2f})"
    )


def kind_admits(kind: ScreeningKind, schema: str) -> bool:
    """Whether a screening of ``kind`` compares entries of ``schema`` (the entity type is
    evidence too: a person is never the same party as a company)."""
    if kind == "person":
        return schema in PERSON_SCHEMAS
    if kind == "organization":
        return schema not in PERSON_SCHEMAS
    return True


def score_names(query: str, candidate: str, *, kind: ScreeningKind = "person") -> float:
    """Similarity in 0..1 of two raw names, names only (no evidence).

    ``kind="organization"`` compares them as organisation names (legal forms ignored).
    """
    organisation = kind == "organization"
    return compare_names(
        prepare_name(query, organisation=organisation),
        prepare_name(candidate, organisation=organisation),
        person=not organisation,
    ).score
