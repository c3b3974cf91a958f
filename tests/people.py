"""What people do to runs in tests: provide what a run waits for and decide what awaits a
decision. Shared by the fault suite and the history recorder."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from sluice.config import Settings
from sluice.framework.process import RunStatus
from sluice.signing import as_signal, signed_decision


async def act_on(
    handle: Any,
    status: RunStatus,
    example: Path,
    rng: random.Random,
    settings: Settings,
    approve_share: float = 0.8,
    final_text: str | None = None,
) -> None:
    """Provide the example's file in ``provide/`` if the run waits for input; otherwise
    approve (with probability ``approve_share``) or reject a pending decision, as a reviewer
    the run allows, signed with that reviewer's key from ``settings``' data folder. An
    approval sends ``final_text`` as the reviewer's edit where the request accepts one."""
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
    verdict = "approve" if rng.random() < approve_share else "reject"
    decision = signed_decision(
        settings,
        reviewer=rng.choice(candidates),
        workflow_id=handle.id,
        request_id=pending.request_id,
        verdict=verdict,
        reason="declined" if verdict == "reject" else None,
        final_text=final_text if verdict == "approve" and request.accepts_final_text else None,
    )
    await handle.signal(verdict, as_signal(decision))
