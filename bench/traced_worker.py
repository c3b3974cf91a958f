"""Run a worker unchanged and trace its Python heap with ``tracemalloc``, writing a snapshot
on each SIGUSR1, for benchmark 3's memory breakdown (``bench/memory.py``).

    SLUICE_BENCH_SNAPSHOTS=/tmp/w python -m bench.traced_worker worker.py
    SLUICE_BENCH_SNAPSHOTS=/tmp/w python -m bench.traced_worker -m bench.bare worker ...

The arguments are those ``python`` would get. On the n-th SIGUSR1 the launcher writes
``<prefix>-<n>.tracemalloc`` (the snapshot) and then ``<prefix>-<n>.json`` (the process's
resident memory and what tracemalloc itself used, taken at the same moment); the JSON is
written last, so its presence says the snapshot is complete.

Tracing starts at the first SIGUSR1, not at start-up: traced with its call stacks, every
allocation costs several times more, and the worker's imports alone then took longer than a
worker may take to start. The first snapshot is therefore (nearly) empty and a later one
holds what was allocated since tracing began and is still alive, which is what the runs
parked in between keep.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import runpy
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

SNAPSHOTS = "SLUICE_BENCH_SNAPSHOTS"
# Deep enough that an allocation made while the sandbox imports a workflow module, or
# pydantic builds a model class inside it, still shows the frame outside the libraries
# that caused it. Its cost shows in how long parking takes under tracing (in the report);
# tracemalloc's own memory is reported and left out of every figure.
FRAMES = 25


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _give_back_free_memory() -> None:
    """Return freed heap to the system, so that resident memory read now is comparable
    with the last reading: taking a snapshot itself allocates and frees a lot."""
    name = ctypes.util.find_library("c")
    if name:
        ctypes.CDLL(name).malloc_trim(0)


class _Snapshots:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.taken = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.taken += 1
        # Only what is still reachable counts: a finished run's sandbox waiting for the
        # cyclic collector would otherwise show up in one snapshot and not the next.
        gc.collect()
        _give_back_free_memory()
        rss = _rss_bytes()
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
        traced, _ = tracemalloc.get_traced_memory()
        overhead = tracemalloc.get_tracemalloc_memory()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        snapshot.dump(f"{self.prefix}-{self.taken}.tracemalloc")
        del snapshot
        _give_back_free_memory()
        done = Path(f"{self.prefix}-{self.taken}.json")
        partial = done.with_suffix(".partial")
        partial.write_text(
            json.dumps({"rss_bytes": rss, "traced_bytes": traced, "tracemalloc_bytes": overhead})
        )
        partial.replace(done)


def main(argv: list[str]) -> None:
    prefix = os.environ.get(SNAPSHOTS)
    if not prefix:
        sys.exit(f"{SNAPSHOTS} must name where the snapshots go")
    if not argv:
        sys.exit("usage: python -m bench.traced_worker (SCRIPT | -m MODULE) [ARGS ...]")
    signal.signal(signal.SIGUSR1, _Snapshots(prefix))
    if argv[0] == "-m" and len(argv) > 1:
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        sys.path[0] = str(Path(argv[0]).resolve().parent)
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
