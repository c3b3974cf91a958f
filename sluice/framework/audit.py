"""The audit trail of a run: who started it, on which inputs, what each model and rule
produced, who decided what and when, which actions were taken, and what failed or retried.

It lives in workflow state (so it is as durable as the run) and is read through the
``audit`` query or ``starter.py audit``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

AuditKind = Literal[
    "started",
    "requester",
    "policy",
    "model_output",
    "model_failure",
    "rule_check",
    "rule_hit",
    "screening",
    "risk",
    "decision_requested",
    "decision_refused",
    "vote",
    "decision",
    "escalated",
    "action",
    "retry",
    "failure",
    "completed",
    "input_requested",
    "input_received",
    "input_refused",
    "input_timed_out",
    "decision_record",
    "message_refused",
    "flooded",
]

# The kinds that record a refused message: past a bound they are counted, not recorded.
REFUSALS: tuple[AuditKind, ...] = ("decision_refused", "input_refused", "message_refused")


class InputFingerprint(BaseModel):
    """An input document, identified by hash rather than copied."""

    name: str
    sha256: str


class AuditEvent(BaseModel):
    at: datetime
    kind: AuditKind
    summary: str
    actor: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditTrail(BaseModel):
    workflow_id: str
    workflow_type: str
    domain: str
    subject: str = ""
    started_by: str = "unknown"
    # True once the requester's signed start request checked out against the registry.
    requester_verified: bool = False
    started_at: datetime | None = None
    inputs: list[InputFingerprint] = Field(default_factory=list)
    events: list[AuditEvent] = Field(default_factory=list)

    def of_kind(self, *kinds: AuditKind) -> list[AuditEvent]:
        return [event for event in self.events if event.kind in kinds]
