"""The screening corpus: listed persons, companies and vessels (``corpus_list.csv``, the
OpenSanctions targets.simple.csv shape) and names screened against them
(``corpus_pairs.csv``): true variants of a listed party (``same=yes``: another script, word
order, a dropped middle name, a transliteration, a typo) and different parties who resemble
one (``same=no``: a shared first or family name, the same name with a birth date decades
apart).

A true variant is found when its listed party is among the hits; a resembler is a false
positive when anything at all is hit. Shared by the corpus test and the benchmark.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from activities.connectors.sanctions import (
    EmbeddedSanctionsList,
    QueryEvidence,
    ScreeningKind,
)

HERE = Path(__file__).resolve().parent
LIST_PATH = HERE / "corpus_list.csv"
PAIRS_PATH = HERE / "corpus_pairs.csv"


@dataclass(frozen=True)
class Pair:
    """One screened name and what the right answer is."""

    query: str
    kind: ScreeningKind
    evidence: QueryEvidence | None
    listed_id: str
    same: bool
    form: str


@dataclass(frozen=True)
class Outcome:
    """One pair's result: the best score against its listed party and against anything."""

    pair: Pair
    listed_score: float  # best score of the listed party (0 when not a candidate)
    best_score: float  # best score of any entry


def load_pairs(path: Path = PAIRS_PATH) -> list[Pair]:
    """The corpus pairs, in file order."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    pairs = []
    for row in rows:
        birth_date = row["birth_date"] or None
        countries = [c for c in row["countries"].split(";") if c]
        evidence = (
            QueryEvidence(birth_date=birth_date, countries=countries)
            if birth_date or countries
            else None
        )
        pairs.append(
            Pair(
                query=row["query"],
                kind=cast(ScreeningKind, row["kind"]),
                evidence=evidence,
                listed_id=row["listed_id"],
                same=row["same"] == "yes",
                form=row["form"],
            )
        )
    return pairs


def screen_corpus(
    pairs: list[Pair], listing: EmbeddedSanctionsList | None = None, floor: float = 0.3
) -> list[Outcome]:
    """Screen every pair at a low ``floor`` threshold, so any threshold above it can be
    evaluated from the same scores (the precision-recall curve)."""
    listing = listing or EmbeddedSanctionsList(LIST_PATH)
    outcomes = []
    for pair in pairs:
        result = listing.screen_blocking(
            [pair.query], kind=pair.kind, threshold=floor, evidence=pair.evidence
        )
        listed = [h.score for h in result.hits if h.entry_id == pair.listed_id]
        outcomes.append(
            Outcome(
                pair=pair,
                listed_score=max(listed, default=0.0),
                best_score=max((h.score for h in result.hits), default=0.0),
            )
        )
    return outcomes


@dataclass(frozen=True)
class Rates:
    """Recall on true variants and false-positive rate on resemblers at one threshold."""

    threshold: float
    recall: float
    false_positive_rate: float
    precision: float
    missed: list[Outcome]
    false_positives: list[Outcome]


def rates_at(outcomes: list[Outcome], threshold: float) -> Rates:
    """Recall, false-positive rate and precision of ``outcomes`` at ``threshold``."""
    true = [o for o in outcomes if o.pair.same]
    different = [o for o in outcomes if not o.pair.same]
    missed = [o for o in true if o.listed_score < threshold]
    false_positives = [o for o in different if o.best_score >= threshold]
    found = len(true) - len(missed)
    flagged = found + len(false_positives)
    return Rates(
        threshold=threshold,
        recall=found / len(true) if true else 1.0,
        false_positive_rate=len(false_positives) / len(different) if different else 0.0,
        precision=found / flagged if flagged else 1.0,
        missed=missed,
        false_positives=false_positives,
    )
