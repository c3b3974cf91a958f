"""Waiting for a person to provide something: one typed call, like the approval gate.

``provided = await self.wait_for_input(request, deadline)`` pauses the run on a durable
timer and a condition until every awaited item (say, a missing proof of address) has
arrived by the request's signal, or the deadline passes (``None``: the caller takes its safe
path). Meanwhile the run shows up in ``starter.py pending`` (``ApprovalStatus=Pending``,
``DecisionNeeded`` = the request's kind) and its ``status`` names what it waits for.

A payload that nobody asked for, or that answers nothing awaited, is refused and the
refusal recorded; the run carries on unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from sluice.framework.approval import ApprovalGate
from sluice.search_attributes import (
    APPROVAL_STATUS,
    DECISION_NEEDED,
    DECISION_REQUESTED_AT,
    ApprovalStatus,
)

Recorder = Callable[..., None]


class ProvidedInput(BaseModel):
    """Base of every payload a person sends to a run that waits for input."""

    model_config = ConfigDict(extra="forbid")

    provided_by: str = Field(min_length=1, max_length=120)

    @property
    def item(self) -> str:
        """Which awaited item this payload provides (each domain's payload says)."""
        raise NotImplementedError


class InputRequest(BaseModel):
    """Something a run needs from a person before it can go on, and how it arrives."""

    kind: str = Field(description="Shown as DecisionNeeded, e.g. provide_document")
    question: str
    items: list[str] = Field(min_length=1, description="What exactly, e.g. proof_of_address")
    reasons: list[str] = Field(default_factory=list, description="Why, one line per item")
    signal: str = Field(description="The signal that delivers it")
    payload_hint: str = Field(default="", description="The shape of the payload, for people")
    safe_path: str = "the run is closed as incomplete"


class AwaitedInput(BaseModel):
    """A request waiting for a person, as the ``status`` query and the CLI show it."""

    request: InputRequest
    requested_at: datetime
    deadline: datetime
    received: list[str] = Field(default_factory=list)

    @property
    def outstanding(self) -> list[str]:
        return [item for item in self.request.items if item not in self.received]


class InputInbox:
    """What a run waits for from people, and what has arrived. Owned by the workflow."""

    def __init__(self, record: Recorder, on_change: Callable[[], None], gate: ApprovalGate):
        self._record = record
        self._on_change = on_change
        self._gate = gate
        self.awaiting: AwaitedInput | None = None
        self._arrived: dict[str, ProvidedInput] = {}

    async def wait(
        self, request: InputRequest, deadline: datetime
    ) -> dict[str, ProvidedInput] | None:
        """Every item of ``request`` by its kind, or None when ``deadline`` passed first."""
        now = workflow.now()
        self.awaiting = AwaitedInput(request=request, requested_at=now, deadline=deadline)
        self._arrived = {}
        workflow.upsert_search_attributes(
            [
                APPROVAL_STATUS.value_set(ApprovalStatus.PENDING.value),
                DECISION_NEEDED.value_set(request.kind),
                DECISION_REQUESTED_AT.value_set(now),
            ]
        )
        self._record(
            "input_requested",
            f"{request.kind}: {request.question}",
            items=request.items,
            reasons=request.reasons,
            deadline=deadline.isoformat(),
        )
        self._on_change()
        complete = await self._wait_until(deadline)
        self.awaiting = None
        self._restore_search_attributes()
        if not complete:
            self._record(
                "input_timed_out",
                f"{request.kind}: nothing for {', '.join(request.items)} by "
                f"{deadline.isoformat()}; {request.safe_path}",
                actor="system",
            )
            self._on_change()
            return None
        arrived, self._arrived = self._arrived, {}
        self._on_change()
        return arrived

    def deliver(self, payload: ProvidedInput, signal: str) -> str | None:
        """Accept ``payload`` for an awaited item; return why it was refused, if it was."""
        awaiting = self.awaiting
        reason = None
        if awaiting is None or awaiting.request.signal != signal:
            reason = "this run is not waiting for it"
        elif payload.item not in awaiting.request.items:
            reason = f"this run waits for {', '.join(awaiting.outstanding)}, not {payload.item}"
        if reason is not None:
            self._record(
                "input_refused", f"{payload.item} refused: {reason}", actor=payload.provided_by
            )
            return reason
        assert awaiting is not None
        replaced = payload.item in self._arrived
        self._arrived[payload.item] = payload
        awaiting.received = [item for item in awaiting.request.items if item in self._arrived]
        self._record(
            "input_received",
            f"{payload.item} received" + (" (replaces the earlier one)" if replaced else ""),
            actor=payload.provided_by,
        )
        self._on_change()
        return None

    async def _wait_until(self, deadline: datetime) -> bool:
        assert self.awaiting is not None
        remaining = deadline - workflow.now()
        if remaining.total_seconds() <= 0:
            return False
        try:
            await workflow.wait_condition(
                lambda: self.awaiting is not None and not self.awaiting.outstanding,
                timeout=remaining,
            )
        except TimeoutError:
            return False
        return True

    def _restore_search_attributes(self) -> None:
        """Back to what the approval gate shows (nothing, before any decision is asked)."""
        status, pending = self._gate.status, self._gate.pending
        updates: list[SearchAttributeUpdate[Any]] = [
            APPROVAL_STATUS.value_set(status.value) if status else APPROVAL_STATUS.value_unset()
        ]
        if pending is not None:
            updates.append(DECISION_NEEDED.value_set(pending.request.kind))
            updates.append(DECISION_REQUESTED_AT.value_set(pending.requested_at))
        else:
            updates.append(DECISION_NEEDED.value_unset())
            updates.append(DECISION_REQUESTED_AT.value_unset())
        workflow.upsert_search_attributes(updates)
