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

from activities.approvals import ApprovalPolicyActivities
from activities.cargo.extraction import TASK as CARGO_EXTRACT
from activities.cargo.extraction import CargoDocumentActivities, offline_extract
from activities.cargo.rules import CargoRuleActivities
from activities.connectors.notifications import (
    HttpNotifier,
    NotificationActivities,
    Notifier,
    SqliteOutbox,
)
from activities.connectors.sanctions import sanctions_list_from_config
from activities.connectors.terminal import (
    HttpTerminal,
    SqliteTerminal,
    Terminal,
    TerminalActivities,
)
from activities.model_gateway import ModelGateway, OfflineProvider, provider_from_settings
from activities.screening import ScreeningActivities
from sluice.catalog import PROCESSES
from sluice.config import Settings

WORKFLOWS: tuple[type, ...] = tuple(process.workflow for process in PROCESSES)


def offline_rules() -> OfflineProvider:
    """The offline provider with the rule that stands in for each model task."""
    return OfflineProvider({CARGO_EXTRACT: offline_extract})


def terminal_from(settings: Settings) -> Terminal:
    if settings.connectors.terminal_url:
        return HttpTerminal(
            settings.connectors.terminal_url, settings.connectors.http_timeout_seconds
        )
    return SqliteTerminal(settings.data_dir / "terminal.sqlite3")


def notifier_from(settings: Settings) -> Notifier:
    if settings.connectors.notifications_url:
        return HttpNotifier(
            settings.connectors.notifications_url, settings.connectors.http_timeout_seconds
        )
    return SqliteOutbox(settings.data_dir / "notifications.sqlite3")


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Every activity, bound to its configured system of record."""
    gateway = ModelGateway(provider_from_settings(settings.model, offline_rules()))
    sanctions = sanctions_list_from_config(
        str(settings.connectors.sanctions_list_path or "") or None,
        settings.connectors.sanctions_url,
        settings.connectors.sanctions_api_key,
    )
    policies = ApprovalPolicyActivities(settings)
    documents = CargoDocumentActivities(gateway)
    rules = CargoRuleActivities(settings.cargo)
    screening = ScreeningActivities(sanctions, settings.connectors.sanctions_threshold)
    terminal = TerminalActivities(terminal_from(settings))
    notifications = NotificationActivities(notifier_from(settings))
    return [
        policies.load_approval_policy,
        documents.extract_document,
        rules.cross_check_documents,
        screening.screen_names,
        terminal.release_cargo,
        terminal.hold_cargo,
        notifications.send_notification,
    ]


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
    """A worker for every Sluice workflow and activity on the configured task queue."""
    activities = {activity_name(fn): fn for fn in build_activities(settings)}
    for replacement in replacements:
        activities[activity_name(replacement)] = replacement
    worker_options.setdefault("graceful_shutdown_timeout", timedelta(seconds=20))
    return Worker(
        client,
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=list(WORKFLOWS),
        activities=list(activities.values()),
        **worker_options,
    )
