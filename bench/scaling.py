"""5. Scaling: completed cargo releases per second with one and with two worker processes, and
the CPU each process used meanwhile (the machine has as many cores as ``Machine.cores``).

Setups, measured in alternating rounds on the auto-release path with everything on:
- one ``python worker.py``, and two on one task queue, on the benchmarks' server;
- one worker on a second dev server that keeps SQLite's default rollback journal (the dev
  server's own default; ``worker.py --dev`` starts it in WAL mode), to show what the server's
  storage costs.
"""

from __future__ import annotations

from pydantic import BaseModel

from bench.harness import DRIVER, SERVER, Stack, median
from bench.throughput import CARGO, SLUICE_QUEUE, SLUICE_WORKER, temporal_round

SCALE_QUEUE = "bench-scale"
SCALE_WORKERS = ["scale-1", "scale-2"]
DEFAULT_JOURNAL_QUEUE = "bench-default-journal"
DEFAULT_JOURNAL_WORKER = "default-journal"


class Setup(BaseModel):
    """One setup over every measured round: throughput and CPU in cores (median)."""

    label: str
    workers: int
    runs_per_second: list[float]
    cores: dict[str, float]

    @property
    def median(self) -> float:
        return median(self.runs_per_second)


class ScalingResult(BaseModel):
    runs: int
    rounds: int
    concurrency: int
    setups: dict[str, Setup]

    @property
    def speedup(self) -> float:
        return self.setups["two"].median / self.setups["one"].median


async def run(
    stack: Stack, default_journal: Stack, runs: int, rounds: int, concurrency: int
) -> ScalingResult:
    await stack.sluice_workers([SLUICE_WORKER], SLUICE_QUEUE)
    await stack.sluice_workers(SCALE_WORKERS, SCALE_QUEUE)
    await default_journal.sluice_workers([DEFAULT_JOURNAL_WORKER], DEFAULT_JOURNAL_QUEUE)
    setups = {
        "one": (stack, SLUICE_QUEUE, [SLUICE_WORKER], "1 worker process"),
        "two": (stack, SCALE_QUEUE, SCALE_WORKERS, "2 worker processes"),
        "default_journal": (
            default_journal,
            DEFAULT_JOURNAL_QUEUE,
            [DEFAULT_JOURNAL_WORKER],
            "1 worker process, server with SQLite's default journal",
        ),
    }
    for on, queue, workers, _ in setups.values():
        await temporal_round(on, CARGO, "sluice", queue, workers, concurrency, concurrency)

    measured: dict[str, list[tuple[float, dict[str, float]]]] = {name: [] for name in setups}
    order = list(setups)
    for number in range(rounds):
        for name in order[number % 3 :] + order[: number % 3]:
            on, queue, workers, _ = setups[name]
            rate, share, _ = await temporal_round(
                on, CARGO, "sluice", queue, workers, runs, concurrency
            )
            cores = {
                "server": share.cores[SERVER],
                "workers": sum(share.cores[worker] for worker in workers),
                "driver": share.cores[DRIVER],
                "machine": share.machine_busy_cores,
            }
            measured[name].append((rate, cores))
    return ScalingResult(
        runs=runs,
        rounds=rounds,
        concurrency=concurrency,
        setups={
            name: Setup(
                label=setups[name][3],
                workers=len(setups[name][2]),
                runs_per_second=[rate for rate, _ in values],
                cores={part: median([c[part] for _, c in values]) for part in values[0][1]},
            )
            for name, values in measured.items()
        },
    )
