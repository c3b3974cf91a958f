"""3. Idle cost of waiting: what runs parked on an approval cost the worker while they wait.

A fresh worker runs one release to warm up and is measured idle, with no run parked; then
runs of the anomaly example park on the officer's decision and the same worker is measured
again over the same window. Waiting is a durable timer and a condition in the server's
history, so the worker should do next to nothing. Finally every run is approved at once and
the time until the last one completes is taken. Sluice's worker (``python worker.py``) is
measured first, then a bare Temporal worker the same way, for comparison.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from bench.bare import BARE_WORKFLOW, BareApproval
from bench.harness import (
    ANOMALY,
    CLEAN,
    REVIEWER,
    RUN_TIMEOUT_SECONDS,
    SERVER,
    SLUICE_WORKFLOW,
    CpuShare,
    Stack,
    bounded,
    pid_of,
    rss_bytes,
    shipment,
    snapshot,
    wait_for_count,
)
from bench.profile import Profile, Sampling
from bench.throughput import History, history_of

TARGET_CPU_PERCENT = 1.0


# Runs a worker keeps in its workflow cache: the SDK's default ``max_cached_workflows``,
# which neither worker changes.
CACHED_RUNS = 1_000

# The measured worker's key in ``Parked.approve_cpu_ms_per_run`` (beside the server's and the
# driver's, as ``CpuShare`` names them).
WORKER = "worker"


class Stretch(BaseModel):
    """The worker (and the server) over one measured window."""

    worker_cpu_percent: float
    server_cpu_percent: float
    worker_rss_mib: float


class Parked(BaseModel):
    """One worker, idle and then with the runs parked."""

    label: str
    without_runs: Stretch
    with_parked_runs: Stretch
    parking_seconds: float
    approve_signals_seconds: float
    approve_all_seconds: float
    # CPU per approved run while approving all (worker, server, driver), and where the
    # worker's went (py-spy, sampling throughout, for both workers alike).
    approve_cpu_ms_per_run: dict[str, float] = {}
    approve_profile: Profile | None = None
    approve_profile_error: str | None = None
    # What one approved run leaves in the server's history: what a replay fetches and runs
    # through once more (before the decision, all but the last few events).
    approved_history: History | None = None


class IdleResult(BaseModel):
    parked: int
    window_seconds: float
    variants: dict[str, Parked]
    target_cpu_percent: float = TARGET_CPU_PERCENT

    @property
    def sluice(self) -> Parked:
        return self.variants["sluice"]

    @property
    def met(self) -> bool:
        return self.sluice.with_parked_runs.worker_cpu_percent < self.target_cpu_percent

    def rss_per_parked_run_kib(self, name: str) -> float:
        """The worker's growth per parked run it keeps in its cache: beyond the cache's
        size a parked run is in the server's history only, so it is not counted."""
        variant = self.variants[name]
        grown = variant.with_parked_runs.worker_rss_mib - variant.without_runs.worker_rss_mib
        return grown * 1024 / max(min(self.parked, CACHED_RUNS), 1)

    @property
    def approve_pace(self) -> float:
        """How fast Sluice's worker got every parked run approved and done, as a multiple of
        the bare worker's rate."""
        return self.variants["bare"].approve_all_seconds / self.sluice.approve_all_seconds

    @property
    def memory_ratio(self) -> float:
        """A cached parked Sluice run's memory as a multiple of a bare one's."""
        return self.rss_per_parked_run_kib("sluice") / max(self.rss_per_parked_run_kib("bare"), 1)


async def measure(stack: Stack, worker: str, window: float) -> Stretch:
    pids = stack.pids(worker)
    before = snapshot(pids)
    await asyncio.sleep(window)
    share = CpuShare.between(before, snapshot(pids))
    return Stretch(
        worker_cpu_percent=share.cores[worker] * 100,
        server_cpu_percent=share.cores[SERVER] * 100,
        worker_rss_mib=rss_bytes(pid_of(stack.workers[worker])) / 2**20,
    )


async def all_bare_waiting(client: Client, ids: list[str], seconds: float) -> None:
    """Bare runs have no search attributes: ask each whether it waits, until all do."""

    async def waiting(run_id: str) -> bool:
        try:
            return bool(await client.get_workflow_handle(run_id).query("waiting"))
        except RPCError:
            return False

    left = list(ids)
    deadline = time.monotonic() + seconds
    while left:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(left)} bare runs never waited for a decision")
        answers = await bounded((waiting(run_id) for run_id in left), 64)
        left = [run_id for run_id, done in zip(left, answers, strict=True) if not done]
        if left:
            await asyncio.sleep(1)


async def warm_up(client: Client, workflow: str, task_queue: str) -> str:
    """One clean release on a fresh worker; a tag for the ids of the runs parked next."""
    tag = uuid.uuid4().hex[:6]
    await asyncio.wait_for(
        client.execute_workflow(
            workflow, shipment(CLEAN), id=f"{task_queue}-warm-up-{tag}", task_queue=task_queue
        ),
        RUN_TIMEOUT_SECONDS,
    )
    return tag


async def park(
    client: Client, workflow: str, task_queue: str, ids: list[str], wave: int | None = None
) -> float:
    """Start a run of the anomaly example per id and wait until every one waits for the
    officer's decision; the seconds that took. With ``wave``, that many at a time: a worker
    slowed down (by tracing) would otherwise let workflow tasks time out and redo them."""
    cargo = shipment(ANOMALY)
    started = time.monotonic()
    size = wave or len(ids)
    for end in range(size, len(ids) + size, size):
        some = ids[end - size : end]
        await bounded(
            (client.start_workflow(workflow, cargo, id=i, task_queue=task_queue) for i in some),
            64,
        )
        if workflow == SLUICE_WORKFLOW:
            pending = f"TaskQueue = '{task_queue}' AND ApprovalStatus = 'Pending'"
            await wait_for_count(client, pending, min(end, len(ids)), seconds=300 + len(ids))
        else:
            await all_bare_waiting(client, some, seconds=300 + len(ids))
    return time.monotonic() - started


async def park_and_release(
    stack: Stack,
    client: Client,
    workflow: str,
    task_queue: str,
    worker: str,
    approval: Callable[[str], Awaitable[Any]],
    parked: int,
    window: float,
    label: str,
) -> Parked:
    tag = await warm_up(client, workflow, task_queue)
    await asyncio.sleep(min(2, window))
    without_runs = await measure(stack, worker, window)

    ids = [f"{task_queue}-{tag}-{n:06d}" for n in range(parked)]
    parking_seconds = await park(client, workflow, task_queue, ids)
    in_queue = f"TaskQueue = '{task_queue}'"
    # Let the last workflow tasks and visibility writes settle before measuring.
    await asyncio.sleep(min(3, window))
    with_parked_runs = await measure(stack, worker, window)

    # Signed beforehand, as each reviewer signs on their own machine.
    approvals = await bounded((approval(i) for i in ids), 64)
    sampling = Sampling(pid_of(stack.workers[worker]), stack.folder / f"{worker}-approve.pyspy")
    profile_error = None
    try:
        await sampling.start()
    except (RuntimeError, OSError) as err:
        # No py-spy, or no permission to attach (ptrace): the figures stand without it.
        profile_error = str(err)
    pids = stack.pids(worker)
    before = snapshot(pids)
    started = time.monotonic()
    await bounded(
        (
            client.get_workflow_handle(i).signal("approve", signed)
            for i, signed in zip(ids, approvals, strict=True)
        ),
        64,
    )
    signals_seconds = time.monotonic() - started
    running = f"{in_queue} AND ExecutionStatus = 'Running'"
    await wait_for_count(client, running, 0, seconds=300 + parked, every=0.5)
    approve_all_seconds = time.monotonic() - started
    cpu = CpuShare.between(before, snapshot(pids)).cpu_ms_per_run(parked)
    profile = None
    if profile_error is None:
        try:
            profile = await sampling.stop(worker)
        except (RuntimeError, TimeoutError) as err:
            profile_error = str(err)
    return Parked(
        label=label,
        without_runs=without_runs,
        with_parked_runs=with_parked_runs,
        parking_seconds=parking_seconds,
        approve_signals_seconds=signals_seconds,
        approve_all_seconds=approve_all_seconds,
        approve_cpu_ms_per_run={WORKER if name == worker else name: ms for name, ms in cpu.items()},
        approve_profile=profile,
        approve_profile_error=profile_error,
        approved_history=await history_of(client, ids[-1]),
    )


async def bare_approval(run_id: str) -> BareApproval:
    return BareApproval(reviewer=REVIEWER)


async def run(stack: Stack, parked: int, window: float) -> IdleResult:
    await stack.sluice_workers(["idle-sluice"], "bench-idle-sluice")
    await stack.bare_worker("idle-bare", "bench-idle-bare")
    sluice = await park_and_release(
        stack, stack.sluice, SLUICE_WORKFLOW, "bench-idle-sluice", "idle-sluice",
        lambda run_id: stack.signed_approval(run_id, "benchmark: approve all"),
        parked, window, "Sluice (`python worker.py`)",
    )  # fmt: skip
    bare = await park_and_release(
        stack, stack.bare, BARE_WORKFLOW, "bench-idle-bare", "idle-bare",
        bare_approval, parked, window, "bare Temporal worker",
    )  # fmt: skip
    return IdleResult(
        parked=parked, window_seconds=window, variants={"sluice": sluice, "bare": bare}
    )
