"""The notice contract: when a run asks for a decision, the approval gate tells every
reviewer who may take it (``notify_reviewers``, once per reviewer and request). A notice names
the process, the kind of decision, the risk and the run's subject id, nothing else of the
case. How it travels (the inbox's ledger, e-mail) is a connector:
``activities/connectors/reviewer_notices.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, Field
from temporalio import activity

from sluice.activity_policy import with_policy
from sluice.framework.notifications import NOTIFICATION_SEND


class DecisionNotice(BaseModel):
    """What the reviewers of one pending request are told."""

    workflow_id: str
    request_id: str = Field(description="the pending request: one notice per reviewer each")
    process: str
    kind: str
    subject: str = Field(description="the run's subject id: the only case detail a notice has")
    risk: str
    final_deadline: datetime
    reviewers: list[str]


class NoticeReceipt(BaseModel):
    """Who was told, and who could not be (no e-mail address in the registry)."""

    notified: list[str] = Field(default_factory=list)
    unreachable: list[str] = Field(default_factory=list)


class ReviewerNotifier(Protocol):
    async def notify(self, notice: DecisionNotice) -> NoticeReceipt: ...


class ReviewerNoticeActivities:
    def __init__(self, notifier: ReviewerNotifier) -> None:
        self.notifier = notifier

    @activity.defn(name="notify_reviewers")
    @with_policy(NOTIFICATION_SEND)
    async def notify_reviewers(self, notice: DecisionNotice) -> NoticeReceipt:
        """Tell every reviewer of the request, once each."""
        return await self.notifier.notify(notice)
