"""Telling reviewers that a decision waits for them, with a link to it in the inbox.

Every reviewer the run's policy allows gets one notice per request: by e-mail through the
configured SMTP relay (``[inbox] smtp_host``; the address from the reviewer registry), or, on
the embedded default, in the reviewer notices ledger that the inbox shows. A notice names the
process, the kind of decision, the risk and the run's subject id, and nothing else about the
case: no names, no amounts, no document text.

Each notice is sent once per reviewer and request, whatever the retries and worker restarts:
the ledger keeps a record per notice, and an e-mail is marked sent there once the relay took
it. (A worker stopped between the relay's answer and that mark sends it again: the e-mail's
Message-ID is the same, so mail systems that deduplicate drop the copy.)
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import aiosmtplib

from activities.connectors.ledger import Ledger
from sluice.config import Settings
from sluice.framework.reviewer_notices import DecisionNotice, NoticeReceipt
from sluice.reviewers import load_registry

DECISION_REQUEST = "decision_request"
EMAIL_SENT = "decision_request_email"


def reviewer_notices_file(settings: Settings) -> Path:
    """The ledger of notices to reviewers (apart from the outbox of customers' notices)."""
    return settings.data_dir / "reviewer-notices.sqlite3"


class ReviewerNotices:
    """Notices in the inbox's ledger, or e-mails through the configured relay."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ledger = Ledger(reviewer_notices_file(settings), "notice")

    async def notify(self, notice: DecisionNotice) -> NoticeReceipt:
        """Tell every reviewer of the request, once each."""
        inbox = self.settings.inbox
        link = f"{inbox.public_url.rstrip('/')}/decisions/{quote(notice.workflow_id, safe='')}"
        title = f"Decision waiting: {notice.kind} for {notice.subject} (risk {notice.risk})"
        body = (
            f"A {notice.process} run waits for your decision ({notice.kind}, risk "
            f"{notice.risk}) on {notice.subject}.\n\nOpen it in the inbox: {link}\n\n"
            f"If nobody decides by {notice.final_deadline:%Y-%m-%d %H:%M} UTC, the run takes "
            "its safe path.\n"
        )
        receipt = NoticeReceipt()
        emails = {
            rid: r.email
            for rid, r in load_registry(self.settings.reviewer_registry_file).reviewers.items()
        }
        for reviewer in notice.reviewers:
            key = f"decision-request:{notice.request_id}:{reviewer}"
            if not inbox.smtp_host:
                await self.ledger.record(
                    key, DECISION_REQUEST, reviewer, {"subject": title, "body": body, "link": link}
                )
                receipt.notified.append(reviewer)
                continue
            address = emails.get(reviewer)
            if not address:
                receipt.unreachable.append(reviewer)
                continue
            if not await self.ledger.recorded(key):
                await self._mail(key, address, title, body)
                await self.ledger.record(key, EMAIL_SENT, reviewer, {"subject": title})
            receipt.notified.append(reviewer)
        return receipt

    async def _mail(self, key: str, address: str, title: str, body: str) -> None:
        inbox = self.settings.inbox
        message = EmailMessage()
        message["From"] = inbox.smtp_sender
        message["To"] = address
        message["Subject"] = title
        domain = inbox.smtp_sender.rpartition("@")[2] or "sluice.invalid"
        message["Message-ID"] = f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"
        message.set_content(body)
        await aiosmtplib.send(message, hostname=inbox.smtp_host, port=inbox.smtp_port, timeout=20)
