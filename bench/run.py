"""Run every benchmark and write ``BENCHMARKS.md`` (plots in ``bench/*.png``).

    python -m bench.run            # default sizes: about 15 minutes on 2 cores
    python -m bench.run --full     # the benchmark issue's sizes (10,000 parked runs)
    python -m bench.run --smoke    # tiny sizes, seconds: keeps the scripts working (CI)
    python -m bench.run --only rate_limit   # measure one again, keep the others' figures

Everything runs on 127.0.0.1 against a dev server this command starts and stops, with its
state in ``--work-dir`` (emptied first). A benchmark that fails is reported as failed, the
others still run, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from bench import approval, idle, memory, rate_limit, scaling, screening, throughput
from bench.harness import Machine, Stack
from bench.report import Results, write
from tests.faults.processes import ROOT


@dataclass(frozen=True)
class Sizes:
    runs: int  # per round, benchmarks 1 and 5
    rounds: int
    concurrency: int
    approvals: int
    parked: int
    idle_window: float
    # Runs parked under tracemalloc (fewer than the worker's cache holds): a traced worker
    # parks about one run a second, so 200 take some 4 minutes on 2 shared cores.
    memory_parked: int
    limit_per_minute: int
    limit_seconds: float
    scaling_rounds: int
    screening_sizes: tuple[int, ...]  # generated list entries, benchmark 6


SIZES = {
    "smoke": Sizes(
        runs=4, rounds=1, concurrency=4, approvals=3, parked=5, idle_window=1.0,
        memory_parked=3, limit_per_minute=600, limit_seconds=4.0, scaling_rounds=1,
        screening_sizes=(1_000,),
    ),
    "default": Sizes(
        runs=150, rounds=3, concurrency=32, approvals=200, parked=1_000, idle_window=30.0,
        memory_parked=100, limit_per_minute=120, limit_seconds=60.0, scaling_rounds=2,
        screening_sizes=(10_000, 100_000),
    ),
    "full": Sizes(
        runs=400, rounds=5, concurrency=32, approvals=500, parked=10_000, idle_window=60.0,
        memory_parked=200, limit_per_minute=120, limit_seconds=60.0, scaling_rounds=3,
        screening_sizes=(10_000, 100_000, 1_000_000),
    ),
}  # fmt: skip


BENCHMARKS = (
    "throughput", "approval", "idle", "memory", "rate_limit", "scaling", "screening",
)  # fmt: skip


async def measure(
    mode: str,
    command: str,
    work_dir: Path,
    only: list[str] | None = None,
    *,
    earlier: Results | None = None,
) -> Results:
    """Run the benchmarks (``only`` these, into a copy of ``earlier`` results, if given)."""
    sizes = SIZES[mode]
    machine = Machine.describe()
    if earlier is None:
        results = Results(mode=mode, command=command, machine=machine)
    else:
        results = earlier.model_copy(deep=True)
        for name in only or ():
            results.errors.pop(name, None)
            results.remeasured[name] = (
                f"`{command}` on {machine.started_at:%Y-%m-%d %H:%M} UTC, load average at "
                "start " + ", ".join(f"{v:.2f}" for v in machine.load_average_at_start)
            )
    started = time.monotonic()
    shutil.rmtree(work_dir, ignore_errors=True)
    stack = Stack(work_dir)
    default_journal = Stack(work_dir / "default-journal", journal_mode=None)
    try:
        await stack.start()
        await default_journal.start()
        steps = {
            "throughput": lambda: throughput.run(
                stack, sizes.runs, sizes.rounds, sizes.concurrency
            ),
            "approval": lambda: approval.run(stack, sizes.approvals),
            "idle": lambda: idle.run(stack, sizes.parked, sizes.idle_window),
            "memory": lambda: memory.run(stack, sizes.memory_parked),
            "rate_limit": lambda: rate_limit.run(
                stack, sizes.limit_per_minute, sizes.limit_seconds
            ),
            "scaling": lambda: scaling.run(
                stack, default_journal, sizes.runs, sizes.scaling_rounds, sizes.concurrency
            ),
            # No server needed: the matcher and the list index, in processes of their own.
            "screening": lambda: asyncio.to_thread(
                screening.run,
                list(sizes.screening_sizes),
                os.environ.get("SLUICE_REFERENCE_PYTHON"),
            ),
        }
        for name, step in steps.items():
            if only and name not in only:
                continue
            print(f"[bench] {name} ...", flush=True)
            began = time.monotonic()
            try:
                setattr(results, name, await step())
            except Exception as err:
                traceback.print_exc()
                results.errors[name] = f"{type(err).__name__}: {err}"[:500]
            print(f"[bench] {name} done in {time.monotonic() - began:.0f} s", flush=True)
    finally:
        default_journal.stop()
        stack.stop()
    if earlier is None:
        results.load_average_at_end = os.getloadavg()
        results.seconds = time.monotonic() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    sizes.add_argument("--full", action="store_true", help="the issue's full sizes")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--plots", type=Path, default=ROOT / "bench", help="folder for PNGs")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument(
        "--report-from", type=Path, help="only write the report again, from a run's results.json"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=BENCHMARKS,
        help="measure only these again; the others keep the figures of the last run's "
        "results.json in --work-dir, and the report says which were measured when",
    )
    args = parser.parse_args(argv)
    if args.report_from:
        results = Results.model_validate_json(args.report_from.read_text(encoding="utf-8"))
        write(results, args.output, args.plots)
        return 0
    saved = args.work_dir / "results.json"
    earlier = None
    if args.only:
        if not saved.exists():
            parser.error(f"--only needs an earlier run's {saved}: run every benchmark first")
        earlier = Results.model_validate_json(saved.read_text(encoding="utf-8"))
        if args.smoke or args.full:
            parser.error("--only measures at the sizes of the earlier run; drop --smoke/--full")
    # A stop (SIGTERM, a CI timeout) unwinds like Ctrl-C, so the server and the worker
    # processes this command started are stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    mode = (
        earlier.mode if earlier else "smoke" if args.smoke else "full" if args.full else "default"
    )
    command = "bash scripts/bench.sh" + {"smoke": " --smoke", "full": " --full"}.get(mode, "")
    if args.only:
        command += " --only " + " ".join(args.only)
    try:
        results = asyncio.run(measure(mode, command, args.work_dir, args.only, earlier=earlier))
    except KeyboardInterrupt:
        print("[bench] stopped; no report written", file=sys.stderr)
        return 130
    # Kept beside the run's state, so the report can be written again without measuring.
    args.work_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text(results.model_dump_json(indent=2))
    write(results, args.output, args.plots)
    print(f"[bench] wrote {args.output}", flush=True)
    for name, error in results.errors.items():
        print(f"[bench] {name} FAILED: {error}", file=sys.stderr)
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
