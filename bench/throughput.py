"""1. Orchestration overhead: completed cargo releases per second on the auto-release path.

Three ways to run the same ten steps with the same connector work, measured in alternating
rounds in one run (so drift in the machine's load falls on all of them alike):

- Sluice with everything on: ``python worker.py`` (interceptor, tracing to the span file,
  audit trail, payload encryption, model queue), runs started by a traced, encrypting client;
- bare Temporal (``bench/bare.py``): the same activities, plain worker and client;
- plain asyncio: the same steps with no durability at all.

Each round also samples the CPU of the server, the worker and the driver, and one more round
of each Temporal variant runs under py-spy to show where the worker's CPU goes.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from bench.bare import BARE_WORKFLOW
from bench.harness import (
    CLEAN,
    DRIVER,
    SERVER,
    SLUICE_WORKFLOW,
    CpuShare,
    Stack,
    asyncio_round,
    closed_loop,
    median,
    shipment,
    snapshot,
)
from bench.profile import Profile, Sampling
from sluice.search_attributes import DOMAIN

SLUICE_QUEUE = "bench-sluice"
BARE_QUEUE = "bench-bare"
SLUICE_WORKER = "sluice"
BARE_WORKER = "bare"
TARGET = 0.90


class Variant(BaseModel):
    """One way of running the pipeline, over every measured round."""

    label: str
    runs_per_second: list[float]
    cpu_ms_per_run: dict[str, float]
    # None where no server ran (the asyncio pipeline).
    machine_busy_cores: list[float | None]

    @property
    def median(self) -> float:
        return median(self.runs_per_second)


class History(BaseModel):
    """What one completed run leaves in the server's history."""

    events: int
    bytes: int


class ThroughputResult(BaseModel):
    runs: int
    rounds: int
    concurrency: int
    variants: dict[str, Variant]
    history: dict[str, History]
    profiles: dict[str, Profile]
    profile_error: str | None = None
    target: float = TARGET

    @property
    def ratio(self) -> float:
        """Sluice's throughput as a share of bare Temporal's."""
        return self.variants["sluice"].median / self.variants["bare"].median

    @property
    def durability_ratio(self) -> float:
        """Bare Temporal's throughput as a share of the plain asyncio pipeline's."""
        return self.variants["bare"].median / self.variants["asyncio"].median

    @property
    def met(self) -> bool:
        return self.ratio >= self.target


async def temporal_round(
    stack: Stack,
    client: Client,
    workflow: str,
    task_queue: str,
    workers: list[str],
    runs: int,
    concurrency: int,
) -> tuple[float, CpuShare, list[str]]:
    """Runs per second of one closed-loop round, the CPU it took, and the run ids."""
    tag = f"{task_queue}-{uuid.uuid4().hex[:6]}"
    ids = [f"{tag}-{n:05d}" for n in range(runs)]
    # Sluice runs are started as its CLI starts them: with their domain search attribute.
    start_options: dict[str, Any] = (
        {"search_attributes": TypedSearchAttributes([SearchAttributePair(DOMAIN, "cargo_release")])}
        if workflow == SLUICE_WORKFLOW
        else {}
    )
    cargo = shipment(CLEAN)

    async def one(n: int) -> None:
        outcome: Any = await client.execute_workflow(
            workflow, cargo, id=ids[n], task_queue=task_queue, **start_options
        )
        released = outcome.get("action") == "released" if isinstance(outcome, dict) else outcome
        if not released:
            raise RuntimeError(f"{ids[n]} did not release the cargo: {outcome}")

    pids = stack.pids(*workers)
    before = snapshot(pids)
    seconds = await closed_loop(one, runs, concurrency)
    share = CpuShare.between(before, snapshot(pids))
    return runs / seconds, share, ids


def _per_run(share: CpuShare, runs: int, worker_names: list[str]) -> dict[str, float]:
    """CPU milliseconds per run: the workers together, the server and the driver."""
    per_run = share.cpu_ms_per_run(runs)
    return {
        "worker": sum(per_run[name] for name in worker_names),
        "server": per_run[SERVER],
        "driver": per_run[DRIVER],
    }


async def history_of(client: Client, workflow_id: str) -> History:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return History(
        events=len(history.events), bytes=sum(event.ByteSize() for event in history.events)
    )


async def run(stack: Stack, runs: int, rounds: int, concurrency: int) -> ThroughputResult:
    await stack.sluice_workers([SLUICE_WORKER], SLUICE_QUEUE)
    await stack.bare_worker(BARE_WORKER, BARE_QUEUE)
    temporal = {
        "sluice": (stack.sluice, SLUICE_WORKFLOW, SLUICE_QUEUE, [SLUICE_WORKER]),
        "bare": (stack.bare, BARE_WORKFLOW, BARE_QUEUE, [BARE_WORKER]),
    }
    # Warm up: imports, sandbox, SQLite files, server caches. Not measured.
    for client, workflow, queue, workers in temporal.values():
        await temporal_round(stack, client, workflow, queue, workers, concurrency, concurrency)
    await asyncio_round(stack.folder, concurrency, concurrency, "warm-up")

    measured: dict[str, list[tuple[float, dict[str, float], float | None]]] = {
        "sluice": [],
        "bare": [],
        "asyncio": [],
    }
    last_ids: dict[str, str] = {}
    order = list(measured)
    for number in range(rounds):
        # Each round starts with a different variant, so none always goes first.
        for name in order[number % 3 :] + order[: number % 3]:
            if name == "asyncio":
                outcome = await asyncio_round(
                    stack.folder, runs, concurrency, f"asyncio-{number}-{uuid.uuid4().hex[:6]}"
                )
                cpu = {"worker": outcome["cpu_seconds"] * 1000 / runs}
                measured[name].append((runs / outcome["seconds"], cpu, None))
                continue
            client, workflow, queue, workers = temporal[name]
            rate, share, ids = await temporal_round(
                stack, client, workflow, queue, workers, runs, concurrency
            )
            measured[name].append((rate, _per_run(share, runs, workers), share.machine_busy_cores))
            last_ids[name] = ids[-1]

    profiles: dict[str, Profile] = {}
    profile_error = None
    try:
        for name, (client, workflow, queue, workers) in temporal.items():
            sampling = Sampling(stack.pids(*workers)[workers[0]], stack.folder / f"{name}.pyspy")
            await sampling.start()
            await temporal_round(stack, client, workflow, queue, workers, runs, concurrency)
            profiles[name] = await sampling.stop(workers[0])
    except (RuntimeError, OSError, TimeoutError) as err:
        # No py-spy, or no permission to attach (ptrace): the figures stand without it.
        profile_error = str(err)

    labels = {
        "sluice": "Sluice, everything on",
        "bare": "bare Temporal",
        "asyncio": "plain asyncio, no durability",
    }
    variants = {
        name: Variant(
            label=labels[name],
            runs_per_second=[rate for rate, _, _ in values],
            cpu_ms_per_run={
                part: median([cpu[part] for _, cpu, _ in values]) for part in values[0][1]
            },
            machine_busy_cores=[busy for _, _, busy in values],
        )
        for name, values in measured.items()
    }
    return ThroughputResult(
        runs=runs,
        rounds=rounds,
        concurrency=concurrency,
        variants=variants,
        history={
            "sluice": await history_of(stack.sluice, last_ids["sluice"]),
            "bare": await history_of(stack.bare, last_ids["bare"]),
        },
        profiles=profiles,
        profile_error=profile_error,
    )
