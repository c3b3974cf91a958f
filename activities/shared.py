"""Connections the activities of several processes share on one worker, each built once per
worker through ``Services.shared``: the model gateway, the sanctions screening, the
notification outbox, the reviewer notices and the approval policies."""

from __future__ import annotations

from activities.connectors.notifications import HttpNotifier, SqliteOutbox
from activities.connectors.reviewer_notices import ReviewerNotices
from activities.connectors.sanctions import sanctions_list_from_config
from activities.model_gateway import ModelGateway, OfflineProvider, provider_from_settings
from activities.screening import ScreeningActivities
from sluice.framework import Services
from sluice.framework.notifications import NotificationActivities, Notifier
from sluice.framework.policy import ApprovalPolicyActivities
from sluice.framework.reviewer_notices import ReviewerNoticeActivities


def model_gateway(services: Services) -> ModelGateway:
    """The one model gateway: the configured provider, or the offline one answering every
    declared process's rules."""
    settings = services.settings
    offline = OfflineProvider(services.offline_rules)
    return ModelGateway(
        provider_from_settings(settings.model, offline), prices=settings.model.prices
    )


def sanctions_screening(services: Services) -> ScreeningActivities:
    """Screening against the configured sanctions list (one index in memory per worker)."""
    connectors = services.settings.connectors
    sanctions = sanctions_list_from_config(
        str(connectors.sanctions_list_path or "") or None,
        connectors.sanctions_url,
        connectors.sanctions_api_key,
        list_url=connectors.sanctions_list_url,
        refresh_minutes=connectors.sanctions_refresh_minutes,
    )
    return ScreeningActivities(sanctions, connectors.sanctions_threshold)


def notifier_from(services: Services) -> Notifier:
    """The notification service when a URL is configured, otherwise the local outbox."""
    settings = services.settings
    if settings.connectors.notifications_url:
        return HttpNotifier(
            settings.connectors.notifications_url, settings.connectors.http_timeout_seconds
        )
    return SqliteOutbox(settings.data_dir / "notifications.sqlite3")


def notifications(services: Services) -> NotificationActivities:
    """Sends every notification a run gives (the approval gate's and the processes')."""
    return NotificationActivities(services.shared(notifier_from))


def reviewer_notices(services: Services) -> ReviewerNoticeActivities:
    """Tells the reviewers of every decision request (the inbox's ledger, or e-mail)."""
    return ReviewerNoticeActivities(ReviewerNotices(services.settings))


def approval_policies(services: Services) -> ApprovalPolicyActivities:
    """Reads each domain's approval policy for the approval gate."""
    return ApprovalPolicyActivities(services.settings)
