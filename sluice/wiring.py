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
from activities.connectors.crm import CrmActivities, crm_from_settings
from activities.connectors.notifications import (
    HttpNotifier,
    NotificationActivities,
    Notifier,
    SqliteOutbox,
)
from activities.connectors.payments import PaymentActivities, payments_from_settings
from activities.connectors.reviewer_notices import ReviewerNoticeActivities
from activities.connectors.sanctions import sanctions_list_from_config
from activities.connectors.terminal import (
    HttpTerminal,
    SqliteTerminal,
    Terminal,
    TerminalActivities,
)
from activities.connectors.ticketing import TicketingActivities, ticketing_from_settings
from activities.kyc.documents import ADDRESS_TASK as KYC_READ_ADDRESS
from activities.kyc.documents import IDENTITY_TASK as KYC_READ_IDENTITY
from activities.kyc.documents import (
    KycDocumentActivities,
    offline_address_proof,
    offline_identity,
)
from activities.kyc.rules import KycRuleActivities
from activities.model_gateway import ModelGateway, OfflineProvider, provider_from_settings
from activities.screening import ScreeningActivities
from activities.support.classification import TASK as SUPPORT_CLASSIFY
from activities.support.classification import TicketClassificationActivities, offline_classify
from activities.support.drafting import TASK as SUPPORT_DRAFT
from activities.support.drafting import ReplyDraftingActivities, offline_draft
from activities.support.guards import TextGuardActivities
from activities.support.ladder import SupportLadderActivities
from sluice.catalog import PROCESSES
from sluice.config import Settings
from sluice.converter import worker_data_converter
from sluice.interceptor import MessageCheck, ModelCallInterceptor, declares_model_call
from sluice.model_queue import ModelWorkerPlugin
from sluice.ratelimit import RateLimiter, queue_dispatch_rate
from sluice.versioning import worker_deployment

WORKFLOWS: tuple[type, ...] = tuple(process.workflow for process in PROCESSES)


def offline_rules() -> OfflineProvider:
    """The offline provider with the rule that stands in for each model task."""
    return OfflineProvider(
        {
            CARGO_EXTRACT: offline_extract,
            SUPPORT_CLASSIFY: offline_classify,
            SUPPORT_DRAFT: offline_draft,
            KYC_READ_IDENTITY: offline_identity,
            KYC_READ_ADDRESS: offline_address_proof,
        }
    )


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
    gateway = ModelGateway(
        provider_from_settings(settings.model, offline_rules()), prices=settings.model.prices
    )
    sanctions = sanctions_list_from_config(
        str(settings.connectors.sanctions_list_path or "") or None,
        settings.connectors.sanctions_url,
        settings.connectors.sanctions_api_key,
        list_url=settings.connectors.sanctions_list_url,
        refresh_minutes=settings.connectors.sanctions_refresh_minutes,
    )
    policies = ApprovalPolicyActivities(settings)
    documents = CargoDocumentActivities(gateway)
    rules = CargoRuleActivities(settings.cargo)
    screening = ScreeningActivities(sanctions, settings.connectors.sanctions_threshold)
    terminal = TerminalActivities(terminal_from(settings))
    notifications = NotificationActivities(notifier_from(settings))
    reviewer_notices = ReviewerNoticeActivities(settings)
    kyc_documents = KycDocumentActivities(gateway, settings.documents)
    kyc_rules = KycRuleActivities(settings.kyc)
    ladder = SupportLadderActivities(settings)
    classification = TicketClassificationActivities(gateway)
    drafting = ReplyDraftingActivities(gateway)
    guards = TextGuardActivities(settings)
    crm = CrmActivities(crm_from_settings(settings.connectors, settings.data_dir))
    ticketing = TicketingActivities(ticketing_from_settings(settings.connectors, settings.data_dir))
    payments = PaymentActivities(payments_from_settings(settings.connectors, settings.data_dir))
    return [
        policies.load_approval_policy,
        documents.extract_document,
        rules.cross_check_documents,
        screening.screen_names,
        terminal.release_cargo,
        terminal.hold_cargo,
        notifications.send_notification,
        reviewer_notices.notify_reviewers,
        kyc_documents.transcribe_document,
        kyc_documents.extract_document,
        kyc_rules.check_documents,
        ladder.load_support_ladder,
        classification.classify_ticket,
        drafting.draft_reply,
        guards.check_text,
        crm.look_up_customer,
        ticketing.route_ticket,
        ticketing.hand_over_ticket,
        ticketing.send_ticket_reply,
        payments.issue_refund,
    ]


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
