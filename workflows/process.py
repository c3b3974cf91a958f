"""What every Sluice business process shares, written once: the step timeline, the audit
trail, the approval gate's signals, update and queries, search attributes and the summary the
Temporal UI shows. A domain workflow subclasses ``BusinessProcess`` and its ``run`` method
reads as the checklist it automates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from sluice.search_attributes import DOMAIN, RISK_LEVEL, ApprovalStatus, RiskLevel
from workflows.approval import (
    ApprovalGate,
    ApproveSignal,
    Decision,
    DecisionInput,
    DecisionReceipt,
    DecisionRequest,
    PendingDecision,
    RejectSignal,
    vote_from,
)
from workflows.audit import AuditEvent, AuditKind, AuditTrail, InputFingerprint

with workflow.unsafe.imports_passed_through():
    from activities.approvals import ApprovalPolicy, ApprovalPolicyActivities
    from activities.model_gateway import ModelRecord
    from sluice.activity_policy import policy_of

R = TypeVar("R")


class StepRecord(BaseModel):
    """One step of the run, as the timeline shows it."""

    name: str
    status: Literal["running", "waiting", "completed", "failed"]
    started_at: datetime
    finished_at: datetime | None = None
    attempts: int = 1
    note: str | None = None


class RunStatus(BaseModel):
    """Answer of the ``status`` query: where the run is and how it got there."""

    workflow_id: str
    workflow_type: str
    domain: str
    subject: str
    current_step: str | None
    steps: list[StepRecord]
    approval_status: ApprovalStatus | None
    risk_level: RiskLevel | None
    pending_decision: PendingDecision | None
    decision: Decision | None
    state: Literal["running", "completed", "failed"] = "running"
    outcome: dict[str, Any] | None = None
    failure: str | None = None
    model_usage: dict[str, int] = Field(default_factory=dict)


class StepFailed(ApplicationError):
    """A step's activity failed after its retries; ``cause_type`` names the activity's error."""

    def __init__(self, message: str, cause_type: str | None) -> None:
        super().__init__(message, type="StepFailed", non_retryable=True)
        self.cause_type = cause_type


class BusinessProcess:
    """Base of every domain workflow."""

    domain: ClassVar[str]

    def __init__(self) -> None:
        info = workflow.info()
        self.trail = AuditTrail(
            workflow_id=info.workflow_id, workflow_type=info.workflow_type, domain=self.domain
        )
        self.steps: list[StepRecord] = []
        self.gate = ApprovalGate(self.record, self._refresh_details)
        self.risk: RiskLevel | None = None
        self.state: Literal["running", "completed", "failed"] = "running"
        self.outcome: BaseModel | None = None
        self.failure: str | None = None

    # --- the vocabulary domain workflows are written in ----------------------------------

    def begin(self, *, subject: str, started_by: str, inputs: dict[str, str]) -> None:
        """Open the audit trail: who started the run, on what (hashes, not content)."""
        self.trail.subject = subject
        self.trail.started_by = started_by
        self.trail.started_at = workflow.now()
        self.trail.inputs = [InputFingerprint(name=n, sha256=h) for n, h in inputs.items()]
        workflow.upsert_search_attributes([DOMAIN.value_set(self.domain)])
        self.record("started", f"{self.domain} run for {subject}", actor=started_by)
        self._refresh_details()

    async def approval_policy(self) -> ApprovalPolicy:
        """The approval policy in force, fetched once and kept in history."""
        policy = await self.step(
            "Load approval policy",
            ApprovalPolicyActivities.load_approval_policy,
            self.domain,
        )
        self.record("policy", f"approval policy {policy.version}", policy=policy.model_dump())
        return policy

    async def step(
        self,
        name: str,
        activity: Callable[..., Awaitable[R]],
        arg: Any,
        *,
        summary: str | None = None,
    ) -> R:
        """Run one activity as a named step, under the policy declared on the activity."""
        rules = policy_of(activity)
        record = StepRecord(name=name, status="running", started_at=workflow.now())
        self.steps.append(record)
        self._refresh_details()
        try:
            result: R = await workflow.execute_activity(
                activity,
                arg,
                start_to_close_timeout=rules.start_to_close,
                schedule_to_close_timeout=rules.schedule_to_close,
                heartbeat_timeout=rules.heartbeat,
                retry_policy=rules.retry,
                task_queue=rules.task_queue,
                summary=summary or name,
            )
        except ActivityError as err:
            cause = err.cause
            cause_type = cause.type if isinstance(cause, ApplicationError) else None
            attempts = err.retry_state
            message = f"{name} failed: {getattr(cause, 'message', None) or err.message}"
            record.status, record.finished_at, record.note = "failed", workflow.now(), message
            self.record("failure", message, error_type=cause_type, retry_state=str(attempts))
            raise StepFailed(message, cause_type) from err
        record.status, record.finished_at = "completed", workflow.now()
        attempt = getattr(result, "attempt", 1)
        if isinstance(attempt, int) and attempt > 1:
            record.attempts = attempt
            self.record("retry", f"{name} succeeded on attempt {attempt}")
        self._refresh_details()
        return result

    async def ask(self, request: DecisionRequest, policy: ApprovalPolicy) -> Decision:
        """Wait for the humans the policy names; shown as a waiting step meanwhile."""
        record = StepRecord(
            name=f"Wait for decision: {request.kind}",
            status="waiting",
            started_at=workflow.now(),
        )
        self.steps.append(record)
        decision = await self.gate.ask(request, policy)
        record.status, record.finished_at = "completed", workflow.now()
        record.note = decision.outcome
        self._refresh_details()
        return decision

    def set_risk(self, risk: RiskLevel, why: str) -> None:
        self.risk = risk
        workflow.upsert_search_attributes([RISK_LEVEL.value_set(risk.value)])
        self.record("risk", f"risk {risk.value}: {why}")

    def record(
        self, kind: AuditKind, summary: str, *, actor: str | None = None, **detail: Any
    ) -> None:
        # Details are made JSON-ready here so the audit query never fails on an odd type.
        ready = {
            k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v
            for k, v in detail.items()
        }
        self.trail.events.append(
            AuditEvent(at=workflow.now(), kind=kind, summary=summary, actor=actor, detail=ready)
        )

    def record_model(self, record: ModelRecord, what: str) -> None:
        self.record(
            "model_output",
            f"{what}: {record.provider} {record.model} ({record.prompt} {record.prompt_version})",
            **record.model_dump(mode="json"),
        )

    def complete(self, outcome: BaseModel, summary: str) -> None:
        self.state, self.outcome = "completed", outcome
        self.record("completed", summary)
        self._refresh_details()

    def fail(self, failure: StepFailed) -> StepFailed:
        """Mark the run failed (the workflow then raises): status and audit keep the reason."""
        self.state, self.failure = "failed", failure.message
        self._refresh_details()
        return failure

    # --- how humans and tools talk to a run ----------------------------------------------

    @workflow.signal(name="approve")
    def approve(self, signal: ApproveSignal) -> None:
        """Approve the pending decision (refused decisions are recorded, not applied)."""
        self.gate.vote(vote_from(signal))

    @workflow.signal(name="reject")
    def reject(self, signal: RejectSignal) -> None:
        """Reject the pending decision."""
        self.gate.vote(vote_from(signal))

    @workflow.update(name="decide")
    def decide(self, decision: DecisionInput) -> DecisionReceipt:
        """Approve or reject, answered at once with what the run did with it."""
        return self.gate.vote(vote_from(decision))

    @decide.validator
    def _check_decision(self, decision: DecisionInput) -> None:
        if decision.verdict == "reject" and not (decision.reason or "").strip():
            raise ValueError("a rejection needs a reason")
        reason = self.gate.refusal(decision.reviewer.strip(), decision.verdict)
        if reason:
            raise ValueError(reason)

    @workflow.query(name="status")
    def status(self) -> RunStatus:
        usage: dict[str, int] = {"input_tokens": 0, "output_tokens": 0, "calls": 0}
        for event in self.trail.of_kind("model_output"):
            tokens = event.detail.get("usage", {})
            usage["input_tokens"] += int(tokens.get("input_tokens", 0))
            usage["output_tokens"] += int(tokens.get("output_tokens", 0))
            usage["calls"] += 1
        current = next((s.name for s in reversed(self.steps) if s.finished_at is None), None)
        return RunStatus(
            workflow_id=self.trail.workflow_id,
            workflow_type=self.trail.workflow_type,
            domain=self.domain,
            subject=self.trail.subject,
            current_step=current,
            steps=self.steps,
            approval_status=self.gate.status,
            risk_level=self.risk,
            pending_decision=self.gate.pending,
            decision=self.gate.decision,
            state=self.state,
            outcome=self.outcome.model_dump(mode="json") if self.outcome else None,
            failure=self.failure,
            model_usage=usage,
        )

    @workflow.query(name="audit")
    def audit(self) -> AuditTrail:
        return self.trail

    @workflow.query(name="pending_decision")
    def pending_decision(self) -> PendingDecision | None:
        return self.gate.pending

    def _refresh_details(self) -> None:
        """The UI's current details: step and decision state, never personal data."""
        current = next((s.name for s in reversed(self.steps) if s.finished_at is None), None)
        lines = [f"**{self.domain}** · {self.trail.subject}", f"State: {self.state}"]
        if current:
            lines.append(f"Step: {current}")
        if self.gate.status:
            lines.append(f"Approval: {self.gate.status.value}")
        if self.gate.pending:
            lines.append(f"Waiting for: {self.gate.pending.request.kind}")
        if self.risk:
            lines.append(f"Risk: {self.risk.value}")
        if self.failure:
            lines.append(f"Failure: {self.failure}")
        workflow.set_current_details("\n\n".join(lines))
