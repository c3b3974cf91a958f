"""The worker plugin: attaches every declared process to a Temporal worker in one place.

As pydantic-ai's Temporal plugin does for its agents, ``ProcessPlugin.configure_worker``
reads the declarations and registers what they need: each process's workflow and
activities, the framework's activities (approval policies, notifications), the model-call
interceptor, the sandbox runner (pass-through configured once, here) and the model worker on
the model queue beside the process worker. A domain workflow knows none of this.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio import activity as temporal_activity
from temporalio.client import Client
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkerConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.shared import approval_policies, notifications, reviewer_notices
from sluice.app.catalog import PROCESSES
from sluice.config import Settings
from sluice.converter import worker_data_converter
from sluice.framework import Process, Services
from sluice.framework.declaration import ActivityFn, OfflineRule
from sluice.interceptor import MessageCheck, ModelCallInterceptor, declares_model_call
from sluice.model_queue import ModelWorker
from sluice.ratelimit import RateLimiter, queue_dispatch_rate

# Modules a workflow imports that hold no state between runs: imported once, outside the
# sandbox, instead of once per run (their pydantic classes are costly to build; measured in
# BENCHMARKS.md). A domain workflow module is never passed through: the sandbox re-imports it
# for each run, so a run cannot see another's module state. So the models a workflow returns
# or receives live in its process's ``activities/<process>/models.py``, not in the workflow
# module, where each run would build them (and their pydantic-core validators) again and each
# cached run would hold its own copy.
PASSED_THROUGH = ("activities", "sluice")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every Sluice workflow runs in (workers and replayers alike)."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def activity_name(fn: ActivityFn) -> str:
    """The name an activity is registered and scheduled under."""
    definition = temporal_activity._Definition.must_from_callable(fn)
    return definition.name or fn.__name__


def every_offline_rule(processes: Sequence[Process[Any]] = PROCESSES) -> dict[str, OfflineRule]:
    """Each declared process's offline model rules, by model task."""
    return {task: rule for process in processes for task, rule in process.offline_rules.items()}


def build_activities(
    settings: Settings, processes: Sequence[Process[Any]] = PROCESSES
) -> dict[str, ActivityFn]:
    """Every activity of the framework and of each declared process, by name, bound to its
    configured system of record (one connection per worker, shared between processes)."""
    services = Services(settings, every_offline_rule(processes))
    framework: list[ActivityFn] = [
        services.shared(approval_policies).load_approval_policy,
        services.shared(notifications).send_notification,
        services.shared(reviewer_notices).notify_reviewers,
    ]
    built = [*framework, *(fn for p in processes for fn in p.build_activities(services))]
    return {activity_name(fn): fn for fn in built}


def model_call_interceptor(
    settings: Settings, processes: Sequence[Process[Any]] = PROCESSES
) -> ModelCallInterceptor:
    """Rate limits (for a provider that has them) and GenAI telemetry for every
    model-calling activity of this worker."""
    limited = settings.model.effective_provider == "mistral"
    return ModelCallInterceptor(
        RateLimiter(settings.model.limits) if limited else None,
        domains={process.workflow_type: process.domain for process in processes},
        capture_content=settings.telemetry.capture_content,
    )


def worker_client(client: Client) -> Client:
    """The connection a worker runs on: it reads what anybody may send, so its converter
    refuses malformed input (``worker_data_converter``) and ``MessageCheck`` comes first in
    the interceptor chain. (A worker plugin cannot replace its worker's client, so this is
    applied to the client the worker is built on.)"""
    config = client.config()
    config["data_converter"] = worker_data_converter(config["data_converter"])
    config["interceptors"] = [MessageCheck(), *config["interceptors"]]
    return Client(**config)


class ProcessPlugin(SimplePlugin):
    """Registers every declared process on the worker it is given to."""

    def __init__(
        self,
        settings: Settings,
        processes: Sequence[Process[Any]] = PROCESSES,
        *,
        replacements: Sequence[Callable[..., Any]] = (),
    ) -> None:
        self.settings = settings
        self.processes = tuple(processes)
        # Tests swap an activity by giving one with the same activity name.
        self.replacements = list(replacements)
        self.model_calls = model_call_interceptor(settings, self.processes)
        self.model_worker: ModelWorker | None = None
        super().__init__(
            "sluice.Processes",
            workflows=[process.workflow for process in self.processes],
            interceptors=[self.model_calls],
            workflow_runner=workflow_runner(),
            run_context=self._model_worker_running,
        )

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        activities = build_activities(self.settings, self.processes)
        for replacement in self.replacements:
            activities[activity_name(replacement)] = replacement
        config["activities"] = [*config.get("activities", ()), *activities.values()]
        config.setdefault("graceful_shutdown_timeout", timedelta(seconds=20))
        # Workflows route a step by its activity's declared policy, replaced or not.
        model_calls = [fn for fn in activities.values() if declares_model_call(fn)]
        if model_calls:
            self.model_worker = ModelWorker(
                config["client"],
                config["task_queue"],
                model_calls,
                tasks_per_second=(
                    queue_dispatch_rate(self.settings.model.limits)
                    if self.model_calls.limiter
                    else None
                ),
                interceptors=[self.model_calls],
                graceful_shutdown_timeout=config["graceful_shutdown_timeout"],
                deployment_config=config.get("deployment_config"),
            )
        return super().configure_worker(config)

    @asynccontextmanager
    async def _model_worker_running(self) -> AsyncIterator[None]:
        if self.model_worker is None:
            yield
            return
        async with self.model_worker.running():
            yield
