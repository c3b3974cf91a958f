"""The notices the inbox shows: decision requests sent to a reviewer, from the embedded
reviewer notices ledger (``reviewer-notices.sqlite3``; e-mail through a relay in production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activities.connectors.ledger import Ledger
from activities.connectors.reviewer_notices import DECISION_REQUEST

SHOWN = 20


class NoticeBoard:
    """Decision requests from the notifications ledger, per reviewer, newest first."""

    def __init__(self, ledger_file: Path) -> None:
        self.ledger_file = ledger_file

    def for_reviewer(self, reviewer: str) -> list[dict[str, Any]]:
        if not self.ledger_file.exists():
            return []
        entries = Ledger(self.ledger_file, "notice").actions(DECISION_REQUEST)
        mine = [e for e in entries if e.subject == reviewer]
        return [
            {
                "at": e.recorded_at,
                "subject": e.detail.get("subject", ""),
                "link": e.detail.get("link", ""),
            }
            for e in reversed(mine[-SHOWN:])
        ]
