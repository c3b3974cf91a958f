"""Notifications: telling a consignee, a customer or an escalation contact what happened.

``SqliteOutbox`` is the embedded default: an outbox ledger a mail or chat relay would drain.
``HttpNotifier`` posts to a notification service. Both send each message once per key.
"""

from __future__ import annotations

from pathlib import Path

from activities.connectors.http import HttpSystem, post_idempotent
from activities.connectors.ledger import Ledger
from sluice.framework.notifications import Notification, NotificationReceipt


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


class HttpNotifier(HttpSystem):
    """A notification service's HTTP API (``POST /notifications``)."""

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
