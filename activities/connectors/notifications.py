"""Notifications: telling a consignee, a customer or an escalation contact what happened.

``SqliteOutbox`` is the embedded default: an outbox ledger a mail or chat relay would drain.
``HttpNotifier`` posts to a notification service. Both send each message once per key.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity
from temporalio.common import RetryPolicy

from activities.connectors.http import post_idempotent
from activities.connectors.ledger import ActionReceipt, Ledger
from sluice.activity_policy import ActivityPolicy, with_policy

# Notifications can wait out a longer outage than a release: nothing is blocked on them
# but the run's completion, and a lost notice is worse than a late one.
NOTIFICATION_SEND = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=8,
        non_retryable_error_types=["SystemOfRecordRejected"],
    ),
)


class Notification(BaseModel):
    """One message to one recipient."""

    recipient: str
    channel: str = "email"
    subject: str
    body: str
    idempotency_key: str


class NotificationReceipt(ActionReceipt):
    recipient: str


class Notifier(Protocol):
    async def send(self, notification: Notification) -> NotificationReceipt: ...


class SqliteOutbox:
    """Embedded notifications: an outbox in ``notifications.sqlite3``."""

    def __init__(self, path: Path) -> None:
        self.ledger = Ledger(path, "notice")

    async def send(self, notification: Notification) -> NotificationReceipt:
        entry = await self.ledger.record(
            notification.idempotency_key,
            notification.channel,
            notification.recipient,
            {"subject": notification.subject, "body": notification.body},
        )
        return NotificationReceipt.recorded(entry, recipient=entry.subject)


class HttpNotifier:
    """A notification service's HTTP API (``POST /notifications``)."""

    def __init__(self, base_url: str, timeout_seconds: float = 10.0) -> None:
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds

    async def send(self, notification: Notification) -> NotificationReceipt:
        answer = await post_idempotent(
            self.base_url,
            "notifications",
            notification.model_dump(mode="json"),
            key=notification.idempotency_key,
            timeout_seconds=self.timeout_seconds,
        )
        return NotificationReceipt.answered(
            answer, notification.idempotency_key, recipient=notification.recipient
        )


class NotificationActivities:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    @activity.defn(name="send_notification")
    @with_policy(NOTIFICATION_SEND)
    async def send_notification(self, notification: Notification) -> NotificationReceipt:
        """Send one notification (once per idempotency key)."""
        receipt = await self.notifier.send(notification)
        return receipt.model_copy(update={"attempt": activity.info().attempt})
