"""3, continued. Where a cached parked run's memory goes, for each worker, by tracemalloc.

Each worker is started under ``bench.traced_worker`` (its code unchanged), warmed up by one
clean release as in benchmark 3, and its Python heap snapshotted; then runs of the anomaly
example park on the officer's decision and it is snapshotted again. The heap's growth
between the two is attributed by each allocation's call stack: to the project code nearest
the allocation (Sluice's framework, the workflow code, the activities' models, the bare
workflow), else to the library that made it; an allocation made while the sandbox imports a
module for a run counts as that run's import. Resident memory is read at both snapshots
too: what it grew beyond the traced heap (and tracemalloc's own tables) is memory outside
Python's allocator, such as the SDK's Rust core.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel

from bench.bare import BARE_WORKFLOW
from bench.harness import SLUICE_WORKFLOW, Stack, Traced
from bench.idle import park, warm_up
from bench.traced_worker import FRAMES
from tests.faults.processes import ROOT

SANDBOX_IMPORT = "workflow sandbox: the run's own import of its workflow module"
SANDBOX = "Temporal SDK: workflow sandbox (temporalio/worker/workflow_sandbox/)"
TEMPORAL = "Temporal SDK, the rest (temporalio/)"
SLUICE = "Sluice framework (sluice/)"
WORKFLOWS = "workflow code (workflows/)"
ACTIVITIES = "activities' models (activities/)"
BARE = "bare workflow (bench/bare.py)"
PYDANTIC = "pydantic"
OPENTELEMETRY = "OpenTelemetry"
OTHER = "other Python (standard library and the rest)"
# In the report's order.
CATEGORIES = (
    SANDBOX_IMPORT, SANDBOX, TEMPORAL, SLUICE, WORKFLOWS, ACTIVITIES, BARE, PYDANTIC,
    OPENTELEMETRY, OTHER,
)  # fmt: skip

_PROJECT = {
    "sluice": SLUICE, "workflows": WORKFLOWS, "activities": ACTIVITIES, "bench/bare.py": BARE,
}  # fmt: skip
# The launcher's frames (its runpy call under everything, its snapshot handler) are not the
# code being measured.
_LAUNCHER = "bench/traced_worker.py"
_IMPORTER = "temporalio/worker/workflow_sandbox/_importer.py"
_LIBRARIES = (
    ("temporalio/worker/workflow_sandbox/", SANDBOX),
    ("temporalio/", TEMPORAL),
    ("pydantic/", PYDANTIC),
    ("pydantic_core/", PYDANTIC),
    ("opentelemetry/", OPENTELEMETRY),
)
_SITES = 8
# Runs started at a time: few enough that the traced worker answers each workflow task
# within its timeout (with 64 at once, tasks timed out and were redone over and over).
WAVE = 10


class Site(BaseModel):
    """One line that allocated: the project line nearest the allocation, else the line."""

    where: str
    kib_per_run: float


class Breakdown(BaseModel):
    """One worker's growth per parked run, between the two snapshots."""

    label: str
    kib_per_run: dict[str, float]
    traced_kib_per_run: float
    rss_kib_per_run: float
    tracemalloc_kib_per_run: float
    # How long parking took under tracing (benchmark 3 parks without it): its overhead.
    parking_seconds: float
    top_sites: list[Site]

    @property
    def native_kib_per_run(self) -> float:
        """Resident growth that Python's allocator does not account for."""
        return self.rss_kib_per_run - self.traced_kib_per_run - self.tracemalloc_kib_per_run


class MemoryResult(BaseModel):
    parked: int
    frames: int = FRAMES
    variants: dict[str, Breakdown]

    def difference(self) -> dict[str, float]:
        """KiB per run a Sluice run holds beyond a bare one, per category."""
        sluice, bare = self.variants["sluice"], self.variants["bare"]
        return {
            name: sluice.kib_per_run.get(name, 0.0) - bare.kib_per_run.get(name, 0.0)
            for name in CATEGORIES
        }


def _project_part(filename: str) -> str | None:
    """The path inside the repository of a project source file, or None for libraries."""
    if "site-packages" in filename or not filename.startswith(f"{ROOT}/"):
        return None
    part = filename[len(str(ROOT)) + 1 :]
    return None if part == _LAUNCHER else part


def _library(filename: str) -> str:
    for part, name in _LIBRARIES:
        if f"site-packages/{part}" in filename:
            return name
    return OTHER


def attribute(traceback: tracemalloc.Traceback) -> tuple[str, str]:
    """(category, site) of one allocation's call stack."""
    frames = list(reversed(traceback))  # most recent first
    # Frames under the event loop that runs the allocating code (a worker's entry point and
    # its ``asyncio.run``) are there for every allocation and say nothing about it.
    loop = next(
        (n for n, frame in enumerate(frames) if frame.filename.endswith("asyncio/events.py")),
        len(frames),
    )
    project = [(frame, _project_part(frame.filename)) for frame in frames[:loop]]
    nearest = next(((f, part) for f, part in project if part is not None), None)
    where = nearest[0] if nearest else frames[0]
    site = f"{nearest[1] if nearest else where.filename.rpartition('site-packages/')[2]}"
    site += f":{where.lineno}"
    if any(f.filename.startswith("<frozen importlib") or f.filename.endswith(_IMPORTER)
           for f in frames):  # fmt: skip
        return SANDBOX_IMPORT, site
    if nearest is not None:
        part = nearest[1]
        return _PROJECT.get(part.split("/", 1)[0], _PROJECT.get(part, OTHER)), site
    return _library(frames[0].filename), site


def breakdown(
    before: Path, after: Path, parked: int, label: str, parking_seconds: float
) -> Breakdown:
    """The growth from snapshot ``before`` to ``after`` (paths without suffix), per run."""
    first = tracemalloc.Snapshot.load(f"{before}.tracemalloc")
    second = tracemalloc.Snapshot.load(f"{after}.tracemalloc")
    for snapshot in (before, after):  # large, and read once
        Path(f"{snapshot}.tracemalloc").unlink()
    categories: dict[str, int] = defaultdict(int)
    sites: dict[str, int] = defaultdict(int)
    for stat in second.compare_to(first, "traceback"):
        category, site = attribute(stat.traceback)
        categories[category] += stat.size_diff
        sites[site] += stat.size_diff
    numbers = [json.loads(Path(f"{p}.json").read_text()) for p in (before, after)]

    def per_run(grown: float) -> float:
        return grown / 1024 / parked

    top = sorted(sites.items(), key=lambda item: -item[1])[:_SITES]
    return Breakdown(
        label=label,
        kib_per_run={name: per_run(size) for name, size in categories.items()},
        traced_kib_per_run=per_run(sum(categories.values())),
        rss_kib_per_run=per_run(numbers[1]["rss_bytes"] - numbers[0]["rss_bytes"]),
        tracemalloc_kib_per_run=per_run(
            numbers[1]["tracemalloc_bytes"] - numbers[0]["tracemalloc_bytes"]
        ),
        parking_seconds=parking_seconds,
        top_sites=[Site(where=where, kib_per_run=per_run(size)) for where, size in top],
    )


async def measured(
    stack: Stack, worker: Traced, workflow: str, task_queue: str, parked: int, label: str
) -> Breakdown:
    client = stack.sluice if workflow == SLUICE_WORKFLOW else stack.bare
    tag = await warm_up(client, workflow, task_queue)
    await asyncio.sleep(2)
    before = await worker.snapshot()
    ids = [f"{task_queue}-{tag}-{n:06d}" for n in range(parked)]
    parking_seconds = await park(client, workflow, task_queue, ids, wave=WAVE)
    # Let the last workflow tasks settle, as benchmark 3 does before measuring.
    await asyncio.sleep(3)
    after = await worker.snapshot()
    # The parked runs stay in the server's history, waiting on a timer far away; the
    # worker is stopped so the other benchmarks run without it.
    worker.stop()
    return await asyncio.to_thread(breakdown, before, after, parked, label, parking_seconds)


async def run(stack: Stack, parked: int) -> MemoryResult:
    folder = stack.folder / "memory"
    [sluice_worker] = await stack.sluice_workers(
        ["memory-sluice"], "bench-memory-sluice", traced=folder
    )
    assert isinstance(sluice_worker, Traced)
    sluice = await measured(
        stack, sluice_worker, SLUICE_WORKFLOW, "bench-memory-sluice", parked,
        "Sluice (`python worker.py`)",
    )  # fmt: skip
    bare_worker = await stack.bare_worker("memory-bare", "bench-memory-bare", traced=folder)
    assert isinstance(bare_worker, Traced)
    bare = await measured(
        stack, bare_worker, BARE_WORKFLOW, "bench-memory-bare", parked, "bare Temporal worker"
    )
    return MemoryResult(parked=parked, variants={"sluice": sluice, "bare": bare})
