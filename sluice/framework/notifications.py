"""The notification contract: what the approval gate and every process send (a
``Notification``), the activity that sends it, and the ``Notifier`` it sends through. The
notifiers themselves (the local outbox, the HTTP service) are connectors in
``activities/connectors/notifications.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity

from sluice.activity_policy import ActivityPolicy, system_of_record_retry, with_policy
from sluice.framework.receipts import ActionReceipt

# Notifications can wait out a longer outage than a release: nothing is blocked on them
# but the run's completion, and a lost notice is worse than a late one.
NOTIFICATION_SEND = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=system_of_record_retry(8, longest_wait=timedelta(minutes=1)),
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


class NotificationActivities:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    @activity.defn(name="send_notification")
    @with_policy(NOTIFICATION_SEND)
    async def send_notification(self, notification: Notification) -> NotificationReceipt:
        """Send one notification (once per idempotency key)."""
        receipt = await self.notifier.send(notification)
        return receipt.model_copy(update={"attempt": activity.info().attempt})
