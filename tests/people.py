"""What people do to runs in tests: provide what a run waits for and decide what awaits a
decision. Shared by the fault suite and the history recorder."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from workflows.process import RunStatus


async def act_on(
    handle: Any, status: RunStatus, example: Path, rng: random.Random, approve_share: float = 0.8
) -> None:
    """Provide the example's file in ``provide/`` if the run waits for input; otherwise
    approve (with probability ``approve_share``) or reject a pending decision, as a reviewer
    the run allows."""
    supply = example.parent / "provide" / example.name
    if status.awaiting_input and supply.exists():
        await handle.signal(status.awaiting_input.request.signal, json.loads(supply.read_text()))
        return
    pending = status.pending_decision
    if pending is None:
        return
    request = pending.request
    candidates = [
        reviewer
        for reviewer in pending.allowed_reviewers
        if reviewer not in pending.approvals and reviewer not in request.excluded_reviewers
    ]
    if not candidates:
        return
    if rng.random() < approve_share:
        await handle.signal("approve", {"reviewer": rng.choice(candidates)})
    else:
        await handle.signal("reject", {"reviewer": rng.choice(candidates), "reason": "declined"})
