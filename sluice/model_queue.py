"""Model calls run on their own task queue, next to each process task queue.

A workflow step whose activity declares ``model_call=True`` is scheduled on
``<task queue>-models`` (``BusinessProcess.step`` derives the name from the run's own task
queue, so it is deterministic and needs no configuration in workflow code). Every worker runs
a second, activity-only worker on that queue, and sets Temporal's server-enforced
``max_task_queue_activities_per_second`` on it (unless the provider has no limits, like the
offline one): the request limit then holds however many workers poll the queue. The rate is
``sluice.ratelimit.queue_dispatch_rate``: a little under the limit, leaving room for the burst
the server allows on top of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker, WorkerDeploymentConfig

MODEL_QUEUE_SUFFIX = "-models"


def model_task_queue(task_queue: str) -> str:
    """The queue model calls of runs on ``task_queue`` are scheduled on."""
    return f"{task_queue}{MODEL_QUEUE_SUFFIX}"


class ModelWorker:
    """The activity-only worker on the model queue; the worker plugin runs it for as long as
    the process worker runs (``sluice.app.plugin``)."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        activities: Sequence[Callable[..., Any]],
        *,
        tasks_per_second: float | None,
        interceptors: Sequence[Interceptor] = (),
        graceful_shutdown_timeout: timedelta = timedelta(seconds=20),
        deployment_config: WorkerDeploymentConfig | None = None,
    ) -> None:
        self.client = client
        self.model_queue = model_task_queue(task_queue)
        self.model_activities = list(activities)
        self.tasks_per_second = tasks_per_second
        self.model_interceptors = list(interceptors)
        self.graceful_shutdown_timeout = graceful_shutdown_timeout
        # The same build as the process worker, so versioned runs keep their model calls on it.
        self.deployment_config = deployment_config

    def worker(self) -> Worker:
        return Worker(
            self.client,
            task_queue=self.model_queue,
            activities=self.model_activities,
            interceptors=self.model_interceptors,
            max_task_queue_activities_per_second=self.tasks_per_second,
            graceful_shutdown_timeout=self.graceful_shutdown_timeout,
            deployment_config=self.deployment_config,
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Polls the model queue until the context ends."""
        async with self.worker():
            yield
