"""Build a worker from settings: every workflow, and every activity bound to the system of
record the configuration names (embedded SQLite defaults unless a URL is set).

Tests swap an activity by passing one with the same activity name in ``replacements``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.model_gateway import OfflineProvider
from sluice.app.catalog import PROCESSES
from sluice.app.plugin import ProcessPlugin, every_offline_rule, worker_client
from sluice.config import Settings
from sluice.versioning import worker_deployment

WORKFLOWS: tuple[type, ...] = tuple(process.workflow for process in PROCESSES)


def offline_rules() -> OfflineProvider:
    """The offline provider with the rule that stands in for each model task."""
    return OfflineProvider(every_offline_rule())


def build_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    replacements: Sequence[Callable[..., Any]] = (),
    **worker_options: Any,
) -> Worker:
    """A worker for every declared process on the configured task queue, with a model worker
    beside it on the model queue (see ``sluice.app.plugin`` and ``sluice.model_queue``)."""
    worker_options.setdefault("graceful_shutdown_timeout", timedelta(seconds=20))
    worker_options.setdefault("deployment_config", worker_deployment(settings.temporal))
    plugin = ProcessPlugin(settings, replacements=replacements)
    return Worker(
        worker_client(client),
        task_queue=task_queue or settings.temporal.task_queue,
        plugins=[*worker_options.pop("plugins", ()), plugin],
        **worker_options,
    )
