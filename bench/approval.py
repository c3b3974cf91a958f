"""2. Approval round trip: from the ``approve`` signal to the release at the terminal starting.

Runs of the anomaly example park on the officer's decision (Sluice: the approval gate; bare
Temporal: a signal and a ``wait_condition``). They are approved one at a time, alternating
between the two, each approval waiting for its run to finish, so no approval queues behind
another. The clock starts when the driver sends the signal and stops at the release
activity's ``ActivityTaskStarted`` time in the run's history (the same machine's clock);
the server-side figure starts at the ``WorkflowExecutionSignaled`` event instead.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from bench.bare import BARE_WORKFLOW, BareApproval
from bench.harness import (
    ANOMALY,
    REVIEWER,
    RUN_TIMEOUT_SECONDS,
    SLUICE_WORKFLOW,
    Stack,
    bounded,
    median,
    percentile,
    shipment,
)
from bench.throughput import BARE_QUEUE, BARE_WORKER, SLUICE_QUEUE, SLUICE_WORKER

RELEASE_ACTIVITY = "release_cargo"


class RoundTrips(BaseModel):
    """Approval round trips of one variant, in milliseconds."""

    label: str
    from_client_ms: list[float]
    from_signal_event_ms: list[float]

    def percentile(self, share: float) -> float:
        return percentile(self.from_client_ms, share)

    def server_percentile(self, share: float) -> float:
        return percentile(self.from_signal_event_ms, share)

    @property
    def median(self) -> float:
        return median(self.from_client_ms)


class ApprovalResult(BaseModel):
    runs: int
    variants: dict[str, RoundTrips]


class _Variant:
    def __init__(
        self,
        client: Client,
        workflow: str,
        task_queue: str,
        waiting_query: str,
        approval: Callable[[str], Awaitable[Any]],
    ) -> None:
        self.client = client
        self.workflow = workflow
        self.task_queue = task_queue
        self.waiting_query = waiting_query
        self.approval = approval
        self.sent_at: dict[str, float] = {}

    async def park(self, ids: list[str]) -> None:
        cargo = shipment(ANOMALY)
        await bounded(
            (
                self.client.start_workflow(
                    self.workflow, cargo, id=run_id, task_queue=self.task_queue
                )
                for run_id in ids
            ),
            32,
        )

    async def all_waiting(self, ids: list[str], seconds: float = 600) -> None:
        """Return once every run waits for its decision: an approval measured while others
        are still being parked would queue behind their activities."""
        left = list(ids)
        deadline = time.monotonic() + seconds
        while left:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(left)} runs never waited for a decision")
            waiting = await bounded(
                (self.waiting(self.client.get_workflow_handle(i)) for i in left), 32
            )
            left = [run_id for run_id, done in zip(left, waiting, strict=True) if not done]
            if left:
                await asyncio.sleep(1)

    async def approve(self, run_id: str) -> None:
        """Approve a waiting run and wait for it to finish."""
        handle: WorkflowHandle[Any, Any] = self.client.get_workflow_handle(run_id)
        approval = await self.approval(run_id)
        self.sent_at[run_id] = time.time()
        await handle.signal("approve", approval)
        await asyncio.wait_for(handle.result(), RUN_TIMEOUT_SECONDS)

    async def waiting(self, handle: WorkflowHandle[Any, Any]) -> bool:
        try:
            return bool(await handle.query(self.waiting_query))
        except RPCError:
            # A run whose first workflow task has not completed yet cannot answer queries.
            return False


async def round_trip(client: Client, run_id: str, sent_at: float) -> tuple[float, float]:
    """(from the client's send, from the signal event) to the release activity's start, ms."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    signalled = release_scheduled = started = None
    for event in history.events:
        at = event.event_time.ToNanoseconds() / 1e9
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signalled = signalled or at
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == RELEASE_ACTIVITY:
                release_scheduled = event.event_id
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            if event.activity_task_started_event_attributes.scheduled_event_id == release_scheduled:
                started = at
    if signalled is None or started is None:
        raise RuntimeError(f"{run_id}: no signal or no release in its history")
    return (started - sent_at) * 1000, (started - signalled) * 1000


async def bare_approval(run_id: str) -> BareApproval:
    return BareApproval(reviewer=REVIEWER)


async def run(stack: Stack, runs: int) -> ApprovalResult:
    await stack.sluice_workers([SLUICE_WORKER], SLUICE_QUEUE)
    await stack.bare_worker(BARE_WORKER, BARE_QUEUE)
    variants = {
        "sluice": _Variant(
            stack.sluice,
            SLUICE_WORKFLOW,
            SLUICE_QUEUE,
            "pending_decision",
            lambda run_id: stack.signed_approval(run_id, "benchmark"),
        ),
        "bare": _Variant(stack.bare, BARE_WORKFLOW, BARE_QUEUE, "waiting", bare_approval),
    }
    tag = uuid.uuid4().hex[:6]
    ids = {name: [f"approval-{name}-{tag}-{n:05d}" for n in range(runs)] for name in variants}
    for name, variant in variants.items():
        await variant.park(ids[name])
    for name, variant in variants.items():
        await variant.all_waiting(ids[name])
    for n in range(runs):
        # Alternate which goes first, so neither always follows the other's tail.
        names = list(variants) if n % 2 == 0 else list(reversed(variants))
        for name in names:
            await variants[name].approve(ids[name][n])
    labels = {"sluice": "Sluice approval gate", "bare": "bare Temporal signal"}
    results: dict[str, RoundTrips] = {}
    for name, variant in variants.items():
        trips = await bounded(
            (round_trip(variant.client, run_id, variant.sent_at[run_id]) for run_id in ids[name]),
            16,
        )
        results[name] = RoundTrips(
            label=labels[name],
            from_client_ms=[client_ms for client_ms, _ in trips],
            from_signal_event_ms=[server_ms for _, server_ms in trips],
        )
    return ApprovalResult(runs=runs, variants=results)
