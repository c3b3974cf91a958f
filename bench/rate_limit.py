"""4. Rate-limit fidelity: model calls driven above a low request limit by two worker
processes, against a Mistral wire-format stub that enforces the same limit itself.

The stub (``tests/stubs/mistral_api.py``) answers 429 with ``Retry-After`` to any request
beyond the limit in its own sliding window, so a limiter that let too much through would show
up as provider 429s. Far more runs are started than the limit can serve in the measured
stretch, so model calls queue the whole time; afterwards the runs still open are terminated.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid

from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from bench.harness import CLEAN, SLUICE_WORKFLOW, Stack, bounded, shipment
from sluice.config import RateLimitSettings
from sluice.ratelimit import queue_dispatch_rate
from tests.stubs.mistral_api import MistralStub
from tests.stubs.reading_model import read_like_a_model

LIMITED_QUEUE = "bench-ratelimit"
LIMITED_WORKERS = ["limited-1", "limited-2"]
CALLS_PER_RUN = 4  # one per cargo document
TARGET_SHARE = 0.95
STUB_WINDOW_SECONDS = 60.0
# The opening stretch, looked at apart from the steady pace after it.
START = 5.0


class RateLimitResult(BaseModel):
    limit_per_minute: float
    duration_seconds: float
    workers: int
    # What the model queue was paced at on the server (None in results from before the pace
    # left room for the server's burst, when it was the limit itself).
    queue_pace_per_minute: float | None = None
    runs_started: int
    calls_in_window: int
    most_requests_in_any_minute: int
    provider_429s: int
    statuses: dict[int, int]
    # Seconds after the first request at which each successful call was answered.
    answered_at: list[float]
    rejected_at: list[float]

    @property
    def allowed_in_window(self) -> float:
        return self.limit_per_minute * self.duration_seconds / 60

    @property
    def achieved_share(self) -> float:
        return self.calls_in_window / self.allowed_in_window

    def requests_before(self, seconds: float) -> int:
        """Requests sent (answered or refused) in the first ``seconds``."""
        return sum(1 for at in [*self.answered_at, *self.rejected_at] if at < seconds)

    @property
    def steady_share(self) -> float:
        """Successful calls per second after the first ``START`` seconds, against the pace."""
        span = self.duration_seconds - START
        steady = sum(1 for at in self.answered_at if START <= at < self.duration_seconds)
        return steady / span / (self.limit_per_minute / 60) if span > 0 else 0.0

    @property
    def met(self) -> bool:
        return (
            self.achieved_share >= TARGET_SHARE
            and self.provider_429s == 0
            and self.most_requests_in_any_minute <= self.limit_per_minute
        )


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of ``times`` inside any window of ``window`` seconds."""
    ordered = sorted(times)
    most = start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


async def run(stack: Stack, limit_per_minute: int, duration: float) -> RateLimitResult:
    stub = MistralStub()
    stub.default_chat = read_like_a_model
    stub.requests_per_window = limit_per_minute
    stub.limit_window_seconds = STUB_WINDOW_SECONDS
    stub.start()
    try:
        await stack.sluice_workers(
            LIMITED_WORKERS,
            LIMITED_QUEUE,
            requests_per_minute=limit_per_minute,
            extra_env={
                "SLUICE_MODEL_PROVIDER": "mistral",
                "MISTRAL_API_KEY": "bench-key",
                "MISTRAL_SERVER_URL": stub.url,
            },
        )
        # Twice the calls the limit allows in the measured stretch: the queue never empties.
        runs = math.ceil(limit_per_minute * duration / 60 / CALLS_PER_RUN * 2) + 2
        tag = uuid.uuid4().hex[:6]
        ids = [f"ratelimit-{tag}-{n:04d}" for n in range(runs)]
        cargo = shipment(CLEAN)
        await bounded(
            (
                stack.sluice.start_workflow(
                    SLUICE_WORKFLOW, cargo, id=run_id, task_queue=LIMITED_QUEUE
                )
                for run_id in ids
            ),
            32,
        )
        for _ in range(600):
            if stub.answered:
                break
            await asyncio.sleep(0.1)
        else:
            raise TimeoutError("no model call reached the stub within 60 s")
        first = stub.answered[0][0]
        await asyncio.sleep(max(0.0, first + duration + 1 - time.monotonic()))
        answered = list(stub.answered)
        statuses = dict(stub.responses_by_status)
        await bounded((terminate(stack, run_id) for run_id in ids), 32)
    finally:
        stub.stop()
    ok = [at - first for at, status in answered if status == 200]
    rejected = [at - first for at, status in answered if status == 429]
    limits = RateLimitSettings(requests_per_minute=limit_per_minute, workers=len(LIMITED_WORKERS))
    return RateLimitResult(
        limit_per_minute=limit_per_minute,
        duration_seconds=duration,
        workers=len(LIMITED_WORKERS),
        queue_pace_per_minute=queue_dispatch_rate(limits) * 60,
        runs_started=runs,
        calls_in_window=sum(1 for at in ok if at < duration),
        most_requests_in_any_minute=most_in_any_window(
            [at for at, _ in answered], STUB_WINDOW_SECONDS
        ),
        provider_429s=len(rejected),
        statuses=statuses,
        answered_at=ok,
        rejected_at=rejected,
    )


async def terminate(stack: Stack, run_id: str) -> None:
    """End a run the measurement no longer needs (a finished one is left as it is)."""
    try:
        await stack.sluice.get_workflow_handle(run_id).terminate(reason="benchmark over")
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
