"""Benchmark 6: screening quality on the corpus, and screening speed at list sizes.

Quality: every pair of ``tests/screening/corpus_pairs.csv`` screened against the corpus list;
recall on true variants and false-positive rate on resemblers at the configured threshold,
and over thresholds 0.5..1.0 for the precision-recall curve. With ``--reference-python``
(an interpreter that has nomenklatura installed), OpenSanctions' logic-v2 scores the same
pairs in the same run (``bench/screening_reference.py``).

Speed: lists of generated persons and companies (names drawn from several cultures, the
family names partly invented so the vocabulary grows with the list, Cyrillic and Arabic
aliases for some), each size in a fresh process: the index is built once (time and resident
memory measured), then one name at a time is screened (p50, p99). Queries mix variants of
listed names (typos, reordering, dropped parts) with unlisted names.

    python -m bench.screening --sizes 10000 100000 1000000 --output var/bench/screening.json
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel

from activities.connectors.sanctions import DEFAULT_THRESHOLD, EmbeddedSanctionsList, ListEntry
from activities.connectors.sanctions.index import ListIndex
from tests.faults.processes import ROOT
from tests.screening.corpus import LIST_PATH, PAIRS_PATH, load_pairs, rates_at, screen_corpus

CURVE_THRESHOLDS = [round(0.5 + 0.025 * i, 3) for i in range(21)]
REFERENCE_THRESHOLD = 0.7  # yente's default match threshold


class CurvePoint(BaseModel):
    threshold: float
    recall: float
    precision: float
    false_positive_rate: float


class Quality(BaseModel):
    """Corpus figures of one matcher."""

    matcher: str
    threshold: float
    pairs: int
    true_variants: int
    resemblers: int
    recall: float
    false_positive_rate: float
    missed: list[str]
    false_positives: list[str]
    curve: list[CurvePoint]
    seconds: float


class Speed(BaseModel):
    """One list size: index build and per-name screening time."""

    entries: int
    names_indexed: int
    build_seconds: float
    rss_before_mib: float
    rss_after_mib: float
    queries: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_hits: float


class ScreeningResult(BaseModel):
    """Everything benchmark 6 measured."""

    quality: Quality
    reference: Quality | None = None
    reference_note: str = ""
    speed: list[Speed] = []

    @property
    def met(self) -> bool:
        """Whether the corpus targets are met at the configured threshold."""
        return self.quality.recall >= 0.98 and self.quality.false_positive_rate <= 0.02


def measure_quality() -> Quality:
    """Our matcher on the corpus."""
    began = time.monotonic()
    pairs = load_pairs()
    outcomes = screen_corpus(pairs, EmbeddedSanctionsList(LIST_PATH))
    seconds = time.monotonic() - began
    at = rates_at(outcomes, DEFAULT_THRESHOLD)
    return Quality(
        matcher="sluice-names/2 (this code)",
        threshold=DEFAULT_THRESHOLD,
        pairs=len(pairs),
        true_variants=sum(p.same for p in pairs),
        resemblers=sum(not p.same for p in pairs),
        recall=at.recall,
        false_positive_rate=at.false_positive_rate,
        missed=[f"{o.pair.query} ({o.pair.form}): {o.listed_score:.2f}" for o in at.missed],
        false_positives=[
            f"{o.pair.query} ({o.pair.form}): {o.best_score:.2f}" for o in at.false_positives
        ],
        curve=[_point(rates_at(outcomes, t)) for t in CURVE_THRESHOLDS],
        seconds=seconds,
    )


def _point(rates: object) -> CurvePoint:
    return CurvePoint(
        threshold=rates.threshold,  # type: ignore[attr-defined]
        recall=rates.recall,  # type: ignore[attr-defined]
        precision=rates.precision,  # type: ignore[attr-defined]
        false_positive_rate=rates.false_positive_rate,  # type: ignore[attr-defined]
    )


def measure_reference(python: str) -> Quality:
    """nomenklatura's logic-v2 on the same pairs, in its own interpreter. A resembler counts
    as flagged when it scores at the threshold against the party it resembles."""
    began = time.monotonic()
    answer = subprocess.run(
        [python, str(ROOT / "bench" / "screening_reference.py"), str(LIST_PATH), str(PAIRS_PATH)],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    seconds = time.monotonic() - began
    scores = [json.loads(line)["score"] for line in answer.stdout.splitlines() if line.strip()]
    pairs = load_pairs()
    if len(scores) != len(pairs):
        raise RuntimeError(f"reference scored {len(scores)} of {len(pairs)} pairs")

    def at(threshold: float) -> CurvePoint:
        true = [s for p, s in zip(pairs, scores, strict=True) if p.same]
        other = [s for p, s in zip(pairs, scores, strict=True) if not p.same]
        found = sum(s >= threshold for s in true)
        flagged = sum(s >= threshold for s in other)
        return CurvePoint(
            threshold=threshold,
            recall=found / len(true),
            precision=found / (found + flagged) if found + flagged else 1.0,
            false_positive_rate=flagged / len(other),
        )

    main = at(REFERENCE_THRESHOLD)
    return Quality(
        matcher="nomenklatura logic-v2 (OpenSanctions, yente's default)",
        threshold=REFERENCE_THRESHOLD,
        pairs=len(pairs),
        true_variants=sum(p.same for p in pairs),
        resemblers=sum(not p.same for p in pairs),
        recall=main.recall,
        false_positive_rate=main.false_positive_rate,
        missed=[
            f"{p.query} ({p.form}): {s:.2f}"
            for p, s in zip(pairs, scores, strict=True)
            if p.same and s < REFERENCE_THRESHOLD
        ],
        false_positives=[
            f"{p.query} ({p.form}): {s:.2f}"
            for p, s in zip(pairs, scores, strict=True)
            if not p.same and s >= REFERENCE_THRESHOLD
        ],
        curve=[at(t) for t in CURVE_THRESHOLDS],
        seconds=seconds,
    )


# --- generated lists -------------------------------------------------------------------------

_GIVEN = (
    "john james robert michael david william richard thomas charles daniel maria anna elena "
    "olga natalia ivan sergei alexei dmitri vladimir nikolai andrei yuri mikhail pavel "
    "muhammad ahmad ali hassan hussein omar khalid yusuf ibrahim abdullah fatima aisha "
    "wei fang jun ming hui lei jing yan bo tao georgios nikolaos konstantinos dimitrios "
    "mehmet mustafa ahmet emine ayse jose juan carlos luis miguel ana pieter jan hans klaus"
).split()
_FAMILY = (
    "smith johnson brown jones garcia miller davis rodriguez martinez wilson ivanov petrov "
    "sidorov smirnov kuznetsov popov volkov sokolov lebedev kozlov novikov morozov haddad "
    "khalil hassan rahman qazzani harbi otaibi wang li zhang liu chen yang huang zhao wu "
    "papadopoulos papadakis georgiou yilmaz kaya demir sahin celik lopez gonzalez perez "
    "sanchez ramirez muller schmidt schneider fischer weber meyer wagner de vries jansen"
).split()
_SYLLABLES = (
    "ka ro mi ne ta lo vi sa de ri no ma ku be zi ra fo le tu gan mor vel shi dar kin bor"
).split()
_ORG_WORDS = (
    "global trading shipping marine logistics holdings petro energy capital investment "
    "general commodities freight maritime oil gas metals industrial resources group"
).split()


def _invented(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def generate_entries(count: int, seed: int = 6) -> list[ListEntry]:
    """``count`` fictional list entries: 85 % persons, the rest companies."""
    rng = random.Random(seed)
    entries = []
    for n in range(count):
        if rng.random() < 0.85:
            family = rng.choice(_FAMILY) if rng.random() < 0.4 else _invented(rng)
            parts = [rng.choice(_GIVEN), family]
            if rng.random() < 0.3:
                parts.insert(1, rng.choice(_GIVEN))
            name = " ".join(p.capitalize() for p in parts)
            aliases = (f"{parts[-1].upper()}, {parts[0].capitalize()}",) if n % 5 == 0 else ()
            year = rng.randint(1940, 2000)
            entries.append(
                ListEntry(
                    entry_id=f"gen-{n}",
                    schema="Person",
                    caption=name,
                    names=(name, *aliases),
                    topics=("sanction",),
                    datasets=("generated",),
                    birth_dates=(f"{year}-01-01",),
                )
            )
        else:
            words = [_invented(rng).capitalize(), *rng.sample(_ORG_WORDS, rng.randint(1, 2))]
            name = " ".join(w.capitalize() for w in words) + rng.choice([" Ltd", " LLC", ""])
            entries.append(
                ListEntry(
                    entry_id=f"gen-{n}",
                    schema="Company",
                    caption=name,
                    names=(name,),
                    topics=("sanction",),
                    datasets=("generated",),
                )
            )
    return entries


def _variant(name: str, rng: random.Random) -> str:
    parts = name.split()
    change = rng.choice(["typo", "reorder", "drop", "same"])
    if change == "typo":
        i = rng.randrange(len(parts))
        word = parts[i]
        if len(word) > 4:
            j = rng.randrange(1, len(word) - 1)
            parts[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif change == "reorder":
        parts = [parts[-1] + ",", *parts[:-1]]
    elif change == "drop" and len(parts) > 2:
        parts.pop(1)
    return " ".join(parts)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure_speed(size: int, queries: int = 300, seed: int = 6) -> Speed:
    """Build the index of ``size`` generated entries once, then time single-name screenings."""
    entries = generate_entries(size, seed)
    before = _rss_mib()
    began = time.monotonic()
    index = ListIndex(entries)
    build = time.monotonic() - began
    after = _rss_mib()
    rng = random.Random(seed + 1)
    timings = []
    hits = 0
    for n in range(queries):
        if n % 2 == 0:
            listed = entries[rng.randrange(size)]
            name, group = _variant(listed.caption, rng), listed.schema
        else:
            parts = [rng.choice(_GIVEN), _invented(rng)]
            name, group = " ".join(p.capitalize() for p in parts), "Person"
        group_name = "person" if group == "Person" else "organization"
        started = time.perf_counter()
        hits += len(index.screen_name(name, group_name, DEFAULT_THRESHOLD, None))
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return Speed(
        entries=size,
        names_indexed=sum(len(i.names) for i in index.groups.values()),
        build_seconds=build,
        rss_before_mib=before,
        rss_after_mib=after,
        queries=queries,
        p50_ms=timings[len(timings) // 2],
        p99_ms=timings[min(len(timings) - 1, int(len(timings) * 0.99))],
        max_ms=timings[-1],
        mean_hits=hits / queries,
    )


def run(sizes: list[int], reference_python: str | None = None) -> ScreeningResult:
    """Benchmark 6: quality on the corpus, then each size in a fresh process."""
    result = ScreeningResult(quality=measure_quality())
    if reference_python:
        try:
            result.reference = measure_reference(reference_python)
        except (OSError, subprocess.SubprocessError, RuntimeError, ValueError) as err:
            result.reference_note = f"reference run failed: {type(err).__name__}: {err}"[:300]
    else:
        result.reference_note = (
            "not run: nomenklatura is not installed in the project's environment (it brings "
            "PyICU, scikit-learn and DuckDB); pass --reference-python"
        )
    for size in sizes:
        answer = subprocess.run(
            [sys.executable, "-m", "bench.screening", "--one-size", str(size)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=3600,
            check=True,
        )
        result.speed.append(Speed.model_validate_json(answer.stdout.strip().splitlines()[-1]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reference-python", help="an interpreter with nomenklatura")
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "bench" / "screening.json")
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_size:
        print(measure_speed(args.one_size).model_dump_json())
        return 0
    result = run(args.sizes, args.reference_python)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(result.model_dump_json(indent=2))
    print(result.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())


P99_TARGET_MS = 50.0


def screening_section(result: ScreeningResult) -> str:
    """The BENCHMARKS.md section of benchmark 6, every finding computed from the figures."""
    q = result.quality
    met = result.met
    rows = [
        "| matcher | threshold | recall (true variants) | false-positive rate (resemblers) |",
        "|---|---|---|---|",
        f"| {q.matcher} | {q.threshold:.2f} | {q.recall:.3f} ({q.true_variants}) | "
        f"{q.false_positive_rate:.3f} ({q.resemblers}) |",
    ]
    if result.reference:
        r = result.reference
        rows.append(
            f"| {r.matcher} | {r.threshold:.2f} | {r.recall:.3f} | {r.false_positive_rate:.3f} |"
        )
        at_ours = min(r.curve, key=lambda p: abs(p.threshold - q.threshold))
        rows.append(
            f"| {r.matcher} | {at_ours.threshold:.2f} | {at_ours.recall:.3f} | "
            f"{at_ours.false_positive_rate:.3f} |"
        )
    reference = result.reference_note or (
        "The reference sees the same names and dates of birth (not the countries) and scores "
        "each pair against the listed party only; yente flags from 0.70 by default, so it is "
        "shown at 0.70 and at our threshold."
    )
    speed_rows = [
        "| entries | names indexed | index build | resident memory (before → after) "
        "| p50 | p99 | max | target p99 ≤ 50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in result.speed:
        speed_rows.append(
            f"| {s.entries:,} | {s.names_indexed:,} | {s.build_seconds:.0f} s | "
            f"{s.rss_before_mib:.0f} → {s.rss_after_mib:.0f} MiB | {s.p50_ms:.2f} ms | "
            f"{s.p99_ms:.1f} ms | {s.max_ms:.0f} ms | "
            f"{'yes' if s.p99_ms <= P99_TARGET_MS else '**no**'} |"
        )
    largest = max(result.speed, key=lambda s: s.entries, default=None)
    if largest is None:
        speed_finding = "Speed: not measured in this run."
    else:
        speed_finding = (
            f"**Target: p99 ≤ {P99_TARGET_MS:.0f} ms for one name against 1,000,000 entries. "
            f"Largest list measured: {largest.entries:,} entries, p99 {largest.p99_ms:.1f} ms: "
            + (
                "met.**"
                if largest.entries >= 1_000_000 and largest.p99_ms <= P99_TARGET_MS
                else "missed.**"
                if largest.p99_ms > P99_TARGET_MS
                else "not measured at 1,000,000 entries in this run.**"
            )
        )
        if largest.p99_ms > P99_TARGET_MS:
            speed_finding += (
                " The index finds candidates in a few milliseconds (numpy postings); the tail "
                "is the scoring of each candidate in Python (name-part alignment, about 30-60 "
                "µs each), and the slowest queries are names made of common parts with "
                f"hundreds of candidates (on average {largest.mean_hits:.1f} entries per "
                "query reach the threshold: a generated list of this size holds many "
                "namesakes). Scoring in a compiled extension, or in a process pool across "
                "cores, would be the next step."
            )
    missed = "; ".join(q.missed) or "none"
    false_positives = "; ".join(q.false_positives) or "none"
    return f"""
The corpus (`tests/screening/corpus_pairs.csv`, {q.pairs} pairs) screens true variants of
listed persons, companies and vessels (Greek, Cyrillic, Arabic and Persian, Chinese, Turkish
and accented Latin spellings, word order, dropped middle names and patronymics, particles,
transliteration variants, typos) and different parties that resemble them (a shared first or
family name, the same name with a birth date decades apart) against
`tests/screening/corpus_list.csv`. CI runs it as a test (`tests/screening/test_corpus.py`).

**Targets: recall ≥ 0.98, false-positive rate ≤ 0.02 at the configured threshold
{q.threshold:.2f}: {"met" if met else "missed"}.**

{chr(10).join(rows)}

Missed at {q.threshold:.2f}: {missed}. Flagged although different: {false_positives}.
{reference}

Not in the corpus, and not handled: nicknames and short forms (Giorgos for Georgios, Piet
for Pieter: they need a table of hypocorisms, which OpenSanctions keeps in its own data),
Wade-Giles romanisations of Chinese (Hsu for Xu), and company names translated rather than
transliterated. The eleven parties listed last in the corpus (70 pairs) were written after
the matcher's rules were settled and were not tuned on. The corpus was written by the same
hands as the matcher, which favours it against the reference; a corpus drawn from the
aliases real lists carry would be the fairer test.

Speed: one name screened against generated lists (each size in a fresh process, the index
built once; half the queries are variants of listed names, half unlisted names). Memory
"before" already holds the generated entries; the index is the difference.

{chr(10).join(speed_rows)}

{speed_finding}
"""
