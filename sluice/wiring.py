"""Build a worker from settings: every workflow, and every activity bound to the system of
record the configuration names (embedded SQLite defaults unless a URL is set).

Tests swap an activity by passing one with the same activity name in ``replacements``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity as temporal_activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.model_gateway import OfflineProvider
from activities.shared import approval_policies, notifications
from sluice.app.catalog import PROCESSES
from sluice.config import Settings
from sluice.converter import worker_data_converter
from sluice.framework import Process, Services
from sluice.framework.declaration import OfflineRule
from sluice.interceptor import MessageCheck, ModelCallInterceptor, declares_model_call
from sluice.model_queue import ModelWorkerPlugin
from sluice.ratelimit import RateLimiter, queue_dispatch_rate
from sluice.versioning import worker_deployment

WORKFLOWS: tuple[type, ...] = tuple(process.workflow for process in PROCESSES)


def every_offline_rule(processes: Sequence[Process[Any]] = PROCESSES) -> dict[str, OfflineRule]:
    """Each declared process's offline model rules, by model task."""
    return {task: rule for process in processes for task, rule in process.offline_rules.items()}


def offline_rules() -> OfflineProvider:
    """The offline provider with the rule that stands in for each model task."""
    return OfflineProvider(every_offline_rule())


def build_activities(
    settings: Settings, processes: Sequence[Process[Any]] = PROCESSES
) -> list[Callable[..., Any]]:
    """Every activity of the framework and of each declared process, bound to its configured
    system of record (one connection per worker, shared between processes)."""
    services = Services(settings, every_offline_rule(processes))
    framework: list[Callable[..., Any]] = [
        services.shared(approval_policies).load_approval_policy,
        services.shared(notifications).send_notification,
    ]
    return [*framework, *(fn for process in processes for fn in process.build_activities(services))]


def model_call_interceptor(settings: Settings) -> ModelCallInterceptor:
    """Rate limits (for a provider that has them) and GenAI telemetry for every
    model-calling activity of this worker."""
    limited = settings.model.effective_provider == "mistral"
    return ModelCallInterceptor(
        RateLimiter(settings.model.limits) if limited else None,
        domains={process.workflow_type: process.domain for process in PROCESSES},
        capture_content=settings.telemetry.capture_content,
    )


def activity_name(fn: Callable[..., Any]) -> str:
    definition = temporal_activity._Definition.must_from_callable(fn)
    return definition.name or fn.__name__


def build_worker(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    replacements: Sequence[Callable[..., Any]] = (),
    **worker_options: Any,
) -> Worker:
    """A worker for every Sluice workflow and activity on the configured task queue, with a
    model worker beside it on the model queue (see ``sluice.model_queue``)."""
    activities = {activity_name(fn): fn for fn in build_activities(settings)}
    # Workflows route by the declared policy of the activity they call, replaced or not.
    model_calls = {name for name, fn in activities.items() if declares_model_call(fn)}
    for replacement in replacements:
        activities[activity_name(replacement)] = replacement
        if declares_model_call(replacement):
            model_calls.add(activity_name(replacement))
    worker_options.setdefault("graceful_shutdown_timeout", timedelta(seconds=20))
    worker_options.setdefault("deployment_config", worker_deployment(settings.temporal))
    interceptor = model_call_interceptor(settings)
    worker_options["interceptors"] = [*worker_options.get("interceptors", ()), interceptor]
    # Workers read what anybody may send: see ``worker_data_converter`` and ``MessageCheck``.
    config = client.config()
    config["data_converter"] = worker_data_converter(config["data_converter"])
    config["interceptors"] = [MessageCheck(), *config["interceptors"]]
    client = Client(**config)
    if model_calls:
        model_worker = ModelWorkerPlugin(
            client,
            task_queue or settings.temporal.task_queue,
            [activities[name] for name in sorted(model_calls)],
            tasks_per_second=(
                queue_dispatch_rate(settings.model.limits) if interceptor.limiter else None
            ),
            interceptors=[interceptor],
            graceful_shutdown_timeout=worker_options["graceful_shutdown_timeout"],
            deployment_config=worker_options["deployment_config"],
        )
        worker_options["plugins"] = [*worker_options.get("plugins", ()), model_worker]
    return Worker(
        client,
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=list(WORKFLOWS),
        activities=list(activities.values()),
        **worker_options,
    )
