"""The inbox's side of Temporal: what a signed-in person may see, decide, start and provide.

Every read goes through one rule: a person sees a run only when they are a reviewer of its
process (an allow-list of ``[approvals.<domain>]`` names them), and decides only what the
run's own policy allows them (its ``status`` query says who may decide). A run outside that
is reported as not found, and the attempt is logged. Decisions leave as signed decisions: the
inbox signs as an attesting service for the person it authenticated, with the login method,
and the run verifies the signature against the reviewer registry like any other.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from sluice import search_attributes as sa
from sluice import timeline
from sluice.app.catalog import PROCESSES, Process
from sluice.config import Settings
from sluice.framework.approval import DecisionInput, DecisionReceipt
from sluice.framework.audit import AuditTrail
from sluice.framework.human_input import ProvidedInput
from sluice.framework.process import RunStatus
from sluice.framework.signatures import REQUESTER_MEMO
from sluice.signing import Signer, decision_token, start_token

log = logging.getLogger("sluice.inbox")

QUERY_TIMEOUT = timedelta(seconds=10)
# The most runs a list shows: a page of work, not an export.
LIST_LIMIT = 200
BY_TYPE = {process.workflow_type: process for process in PROCESSES}
BY_DOMAIN = {process.domain: process for process in PROCESSES}
STATES = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "terminated": "Terminated",
    "timed_out": "TimedOut",
}


class NotVisible(Exception):
    """The run does not exist, or this person may not see it: the same answer for both."""


class Refused(Exception):
    """What the person asked cannot be done; the message is safe to show."""


@dataclass
class Waiting:
    """A run waiting for a decision this person may take."""

    process: Process
    status: RunStatus

    @property
    def workflow_id(self) -> str:
        return self.status.workflow_id


@dataclass
class RunRow:
    """One run in a search."""

    workflow_id: str
    process: Process
    state: str
    approval: str
    risk: str
    started_at: datetime | None


@dataclass
class RunView:
    """Everything the run and decision pages show."""

    process: Process
    state: str
    status: RunStatus
    trail: AuditTrail
    input: dict[str, Any] = field(default_factory=dict)
    trace: list[str] = field(default_factory=list)


class Desk:
    """What one inbox does with Temporal, on behalf of its signed-in people."""

    def __init__(self, client: Client, settings: Settings, signer: Signer) -> None:
        self.client = client
        self.settings = settings
        self.signer = signer

    # --- who may see what ------------------------------------------------------------------

    def processes_for(self, user: str) -> list[Process]:
        """The processes ``user`` reviews: those whose allow-lists name them."""
        return [
            process
            for process in PROCESSES
            if any(
                user in names
                for names in self.settings.approvals_for(process.domain).reviewers.values()
            )
        ]

    def _visible(self, user: str, process: Process | None, workflow_id: str) -> Process:
        if process is None or process not in self.processes_for(user):
            log.warning("inbox: %s refused a run outside their processes: %s", user, workflow_id)
            raise NotVisible(workflow_id)
        return process

    # --- lists ----------------------------------------------------------------------------

    async def waiting_for(
        self, user: str, *, process: Process | None = None, risk: str | None = None
    ) -> list[Waiting]:
        """Runs waiting for a decision ``user`` may take: from visibility, then each run's
        status (its own policy says who may decide, and who has already)."""
        processes = [p for p in self.processes_for(user) if process in (None, p)]
        if not processes:
            return []
        query = (
            "ExecutionStatus = 'Running' AND "
            f"{sa.APPROVAL_STATUS.name} IN ('{sa.ApprovalStatus.PENDING}', "
            f"'{sa.ApprovalStatus.ESCALATED}') AND {self._ours(processes)}"
        )
        if risk in {level.value for level in sa.RiskLevel}:
            query += f" AND {sa.RISK_LEVEL.name} = '{risk}'"
        ids = [
            execution.id async for execution in self.client.list_workflows(query, limit=LIST_LIMIT)
        ]
        statuses = await asyncio.gather(*(self._status(i) for i in ids))
        rows = []
        for status in statuses:
            if status is None or status.pending_decision is None:
                continue
            pending = status.pending_decision
            if user not in pending.allowed_reviewers or user in pending.approvals:
                continue
            if user in pending.request.excluded_reviewers:
                continue
            found = BY_DOMAIN.get(status.domain)
            if found is not None:
                rows.append(Waiting(process=found, status=status))
        return sorted(rows, key=lambda row: row.status.pending_decision.requested_at)  # type: ignore[union-attr]

    async def search(
        self,
        user: str,
        *,
        process: Process | None = None,
        state: str | None = None,
        approval: str | None = None,
        since: datetime | None = None,
    ) -> list[RunRow]:
        """Runs of the processes ``user`` reviews, newest first. Every value in the query is
        one of a fixed set (or a date), never text as typed."""
        processes = [p for p in self.processes_for(user) if process in (None, p)]
        if not processes:
            return []
        query = self._ours(processes)
        if state in STATES:
            query += f" AND ExecutionStatus = '{STATES[state]}'"
        if approval in {a.value for a in sa.ApprovalStatus}:
            query += f" AND {sa.APPROVAL_STATUS.name} = '{approval}'"
        if since is not None:
            query += f" AND StartTime >= '{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        rows = []
        async for execution in self.client.list_workflows(query, limit=LIST_LIMIT):
            found = BY_TYPE.get(execution.workflow_type)
            if found is None:
                continue
            attributes = execution.typed_search_attributes
            rows.append(
                RunRow(
                    workflow_id=execution.id,
                    process=found,
                    state=(execution.status.name.lower() if execution.status else "unknown"),
                    approval=attributes.get(sa.APPROVAL_STATUS) or "",
                    risk=attributes.get(sa.RISK_LEVEL) or "",
                    started_at=execution.start_time,
                )
            )
        return rows

    def _ours(self, processes: list[Process]) -> str:
        """Runs of these processes on this deployment's task queue (the one its workers
        poll: a run elsewhere would not answer its status query)."""
        names = ", ".join(f"'{p.domain}'" for p in processes)
        queue = self.settings.temporal.task_queue.replace("'", "")
        return f"{sa.DOMAIN.name} IN ({names}) AND TaskQueue = '{queue}'"

    # --- one run --------------------------------------------------------------------------

    async def run(self, user: str, workflow_id: str) -> RunView:
        """The run as its pages show it, or ``NotVisible``."""
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            description = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise NotVisible(workflow_id) from None
            raise
        process = self._visible(user, BY_TYPE.get(description.workflow_type), workflow_id)
        status = await self._status(workflow_id)
        try:
            trail = await handle.query("audit", result_type=AuditTrail, rpc_timeout=QUERY_TIMEOUT)
        except (RPCError, WorkflowQueryFailedError):
            trail = AuditTrail(
                workflow_id=workflow_id, workflow_type=description.workflow_type, domain=""
            )
        if status is None:
            raise Refused("the run does not answer just now; try again in a moment")
        state = description.status.name.lower() if description.status else "unknown"
        found, trace = await self._history(handle)
        return RunView(
            process=process,
            state=state,
            status=status,
            trail=trail,
            input=found,
            trace=trace,
        )

    async def _status(self, workflow_id: str) -> RunStatus | None:
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            return await handle.query("status", result_type=RunStatus, rpc_timeout=QUERY_TIMEOUT)
        except (RPCError, WorkflowQueryFailedError):
            return None

    async def _history(self, handle: Any) -> tuple[dict[str, Any], list[str]]:
        """The run's input, decrypted by this client's data converter (the codec), and its
        timeline drawn from the history (step names are decrypted the same way)."""
        try:
            history = await handle.fetch_history(rpc_timeout=QUERY_TIMEOUT)
        except RPCError:
            return {}, []  # the page still shows the status and audit; a reload tries again
        converter = self.client.data_converter
        found: dict[str, Any] = {}
        for event in history.events[:1]:
            payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
            if payloads:
                (value,) = await converter.decode(payloads[:1], [dict])
                found = value if isinstance(value, dict) else {}
        if converter.payload_codec is not None:
            for event in history.events:
                if event.user_metadata.HasField("summary"):
                    [summary] = await converter.payload_codec.decode([event.user_metadata.summary])
                    event.user_metadata.summary.CopyFrom(summary)
        return found, timeline.draw_history(history.events, handle.id)

    def _signing_for(self, login_method: str) -> Signer:
        """The inbox's key, attesting a person it signed in by ``login_method``."""
        return replace(self.signer, login_method=login_method)

    # --- acting ---------------------------------------------------------------------------

    async def decide(
        self,
        user: str,
        workflow_id: str,
        *,
        login_method: str,
        verdict: str,
        comment: str | None = None,
        reason: str | None = None,
        amount: Decimal | None = None,
        final_text: str | None = None,
    ) -> DecisionReceipt:
        """Send ``user``'s decision, signed by the inbox for them, and return the run's
        answer: accepted, or refused and why (refusals are on the run's record too)."""
        view = await self.run(user, workflow_id)
        pending = view.status.pending_decision
        if pending is None:
            raise Refused("this run is not waiting for a decision")
        if user not in pending.allowed_reviewers:
            log.warning("inbox: %s refused a decision they may not take: %s", user, workflow_id)
            raise Refused(f"you may not decide '{pending.request.kind}' on this run")
        token = decision_token(
            self._signing_for(login_method),
            reviewer=user,
            workflow_id=workflow_id,
            request_id=pending.request_id,
            verdict=verdict,
            comment=comment,
            reason=reason,
            amount=amount,
            final_text=final_text,
            lifetime=timedelta(minutes=self.settings.signatures.token_minutes),
        )
        try:
            decision = DecisionInput(
                verdict=verdict,
                reviewer=user,
                comment=comment,
                reason=reason,
                amount=amount,
                final_text=final_text,
                token=token,
            )
        except ValidationError as err:
            raise Refused(f"not a decision the run takes: {err.errors()[0]['msg']}") from None
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            return await handle.execute_update(
                "decide", decision, result_type=DecisionReceipt, rpc_timeout=QUERY_TIMEOUT
            )
        except WorkflowUpdateFailedError as err:
            message = getattr(err.cause, "message", None) or str(err.cause or err)
            return DecisionReceipt(accepted=False, message=message)

    async def start(
        self, user: str, process: Process, payload: BaseModel, *, login_method: str
    ) -> str:
        """Start a run with ``user`` as its verified requester; returns the workflow id."""
        if process not in self.processes_for(user):
            log.warning("inbox: %s refused a start of %s", user, process.command)
            raise Refused(f"you do not work on {process.title}")
        workflow_id = f"{process.command}-{process.subject(payload)}-{uuid.uuid4().hex[:6]}"
        token = start_token(
            self._signing_for(login_method),
            requester=user,
            workflow_id=workflow_id,
            lifetime=timedelta(minutes=self.settings.signatures.token_minutes),
        )
        await self.client.start_workflow(
            process.workflow_type,
            payload,
            id=workflow_id,
            task_queue=self.settings.temporal.task_queue,
            static_summary=f"{process.title} {process.subject(payload)}",
            static_details=f"Started in the inbox by {user}",
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.DOMAIN, process.domain)]
            ),
            memo={REQUESTER_MEMO: token},
        )
        log.info("inbox: %s started %s", user, workflow_id)
        return workflow_id

    async def provide(self, user: str, workflow_id: str, delivery: ProvidedInput) -> None:
        """Send what a run waits for (a missing document)."""
        view = await self.run(user, workflow_id)
        awaiting = view.status.awaiting_input
        if view.state != "running" or awaiting is None:
            raise Refused("this run is not waiting for anything")
        if delivery.item not in awaiting.outstanding:
            raise Refused(
                f"this run waits for {', '.join(awaiting.outstanding)}, not {delivery.item}"
            )
        handle = self.client.get_workflow_handle(workflow_id)
        await handle.signal(awaiting.request.signal, delivery, rpc_timeout=QUERY_TIMEOUT)
        log.info("inbox: %s provided %s to %s", user, delivery.item, workflow_id)
