"""What every Sluice business process shares, written once: the step timeline, the audit
trail, the approval gate's signals, update and queries, search attributes and the summary the
Temporal UI shows. A domain workflow subclasses ``BusinessProcess`` and its ``run`` method
reads as the checklist it automates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
)
from temporalio.exceptions import (
    TimeoutError as TemporalTimeout,
)

from sluice.activity_policy import policy_of
from sluice.converter import INVALID_INPUT
from sluice.framework.approval import (
    REVIEWER_NOTICES_PATCH,
    SIGNED_DECISIONS_PATCH,
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
from sluice.framework.audit import REFUSALS, AuditEvent, AuditKind, AuditTrail, InputFingerprint
from sluice.framework.changes import LOCAL_STEPS_PATCH
from sluice.framework.human_input import AwaitedInput, InputInbox, InputRequest, ProvidedInput
from sluice.framework.messages import MessageRefused, read_message, shown
from sluice.framework.names import NameRefused, canonical_name
from sluice.framework.policy import ApprovalPolicy, ApprovalPolicyActivities
from sluice.framework.signatures import REQUESTER_MEMO, SignatureRefused, same_person, verify_start
from sluice.model_contracts import ModelRecord
from sluice.model_queue import model_task_queue
from sluice.search_attributes import DOMAIN, RISK_LEVEL, ApprovalStatus, RiskLevel
from sluice.telemetry import workflow_span

R = TypeVar("R")

# Since 2026-12 names are compared in canonical form (``sluice.framework.names``) and a rejection
# needs a reason on every channel. Runs started before keep the old rules on replay
# (``workflow.patched`` is False for them); once none is left, deprecate the patch.
NAMES_PATCH = "canonical-names-2026-12"

# The changes made with ``workflow.patched`` before local steps existed, each asked where its
# code is. A run with local steps has every one of them: it is not asked again (see
# ``BusinessProcess.patched``). Processes add their own in ``changes_before_local_steps``.
FRAMEWORK_CHANGES_BEFORE_LOCAL_STEPS = frozenset(
    {NAMES_PATCH, SIGNED_DECISIONS_PATCH, REVIEWER_NOTICES_PATCH}
)

# Refusals recorded one by one; past this many a run is being flooded, and later refusals are
# only counted, so junk cannot grow the audit trail (and the answer to ``audit``) without end.
REFUSALS_RECORDED = 20

# The decisions that arrive as signals (what the plain ``temporal`` CLI sends).
DECISION_SIGNALS: dict[str, type[ApproveSignal | RejectSignal]] = {
    "approve": ApproveSignal,
    "reject": RejectSignal,
}
REFRESH_POLICY = "refresh_policy"
DECIDE = "decide"


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
    model_cost_usd: float = 0.0
    awaiting_input: AwaitedInput | None = None
    refused_messages: int = Field(default=0, description="Messages refused so far")
    flooded: bool = Field(
        default=False,
        description=f"More than {REFUSALS_RECORDED} refused: the rest are counted, not recorded",
    )


class StepFailed(ApplicationError):
    """A step's activity failed after its retries; ``cause_type`` names the activity's error."""

    def __init__(self, message: str, cause_type: str | None) -> None:
        super().__init__(message, type="StepFailed", non_retryable=True)
        self.cause_type = cause_type


class BusinessProcess:
    """Base of every domain workflow."""

    domain: ClassVar[str]
    # The signals by which a domain's people provide what its run waits for, and their
    # payloads (e.g. KYC's ``provide_document``): read like every other message.
    inputs: ClassVar[Mapping[str, type[ProvidedInput]]] = {}
    # Changes this process made with ``workflow.patched`` before local steps existed (their
    # ids); runs with local steps have them all. Changes made since go in ``changes``.
    changes_before_local_steps: ClassVar[frozenset[str]] = frozenset()
    # Changes made since local steps exist, oldest first: asked at the start of every run,
    # before any step; the code reads the answer with ``self.patched(change)``.
    changes: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        info = workflow.info()
        self.trail = AuditTrail(
            workflow_id=info.workflow_id, workflow_type=info.workflow_type, domain=self.domain
        )
        self.steps: list[StepRecord] = []
        self.refusals = 0
        self._changes = self._ask_changes()
        self.local_steps = self._changes[LOCAL_STEPS_PATCH]
        self.canonical_names = self.patched(NAMES_PATCH)
        self._local_step_running = False
        # Search attribute changes held back to go with the next upsert (one event, not two).
        self._held: list[SearchAttributeUpdate[Any]] = []
        self.gate = ApprovalGate(
            self.record,
            self._refresh_details,
            canonical_names=self.canonical_names,
            patched=self.patched,
            upsert=self.upsert,
        )
        self.risk: RiskLevel | None = None
        self.state: Literal["running", "completed", "failed"] = "running"
        self.outcome: BaseModel | None = None
        self.failure: str | None = None
        self.inbox = InputInbox(self.record, self._refresh_details, self.gate)
        self._requester_checked = False

    # --- the vocabulary domain workflows are written in ----------------------------------

    def begin(self, *, subject: str, started_by: str, inputs: dict[str, str]) -> None:
        """Open the audit trail: who started the run, on what (hashes, not content). A
        requester whose name cannot be compared safely fails the run at once."""
        if self.canonical_names:
            try:
                started_by = canonical_name(started_by)
            except NameRefused as err:
                raise ApplicationError(
                    f"input refused: requested_by: {err}", type=INVALID_INPUT, non_retryable=True
                ) from None
        self.trail.subject = subject
        self.gate.subject = subject
        self.trail.started_by = started_by
        self.trail.started_at = workflow.now()
        self.trail.inputs = [InputFingerprint(name=n, sha256=h) for n, h in inputs.items()]
        # The start request sets the domain (the CLI's does): upserting it again costs an event.
        started_with = workflow.info().typed_search_attributes.get(DOMAIN)
        if not (self.local_steps and started_with == self.domain):
            workflow.upsert_search_attributes([DOMAIN.value_set(self.domain)])
        self.record("started", f"{self.domain} run for {subject}", actor=started_by)
        self._refresh_details()

    def patched(self, change: str) -> bool:
        """Whether this run takes the code after ``change``: what ``workflow.patched`` answers,
        asked so that it replays. Workflow code asks this, never ``workflow.patched`` itself.

        Why: while a local step runs, a query can arrive; the SDK then ends the workflow task
        with the step's marker alone and runs the code after the step in the next task, but a
        replay runs that code in the first. A patch asked right after a local step is then
        not found on replay (TMPRL1100, the run's workflow tasks fail). So a change made
        before local steps is not asked in a run that has them (it has them all), and a change
        made since is asked at the start of the run (``changes``), before any step."""
        if change in self._changes:
            return self._changes[change]
        if change in FRAMEWORK_CHANGES_BEFORE_LOCAL_STEPS | self.changes_before_local_steps:
            return self.local_steps or workflow.patched(change)
        raise RuntimeError(
            f"change {change!r} is not declared: list it in {type(self).__name__}.changes"
        )

    def _ask_changes(self) -> dict[str, bool]:
        """Local steps and the process's ``changes``, asked newest first: a run that has a
        change has every change made before it, so a new run asks one (each change asked
        costs two events: its marker and the SDK's TemporalChangeVersion upsert), however many
        there are. A run from before a change answers False for it and adds nothing, so it
        replays unchanged."""
        answers: dict[str, bool] = {}
        newer = False
        for change in reversed((LOCAL_STEPS_PATCH, *self.changes)):
            newer = answers[change] = newer or workflow.patched(change)
        return answers

    async def approval_policy(self) -> ApprovalPolicy:
        """The approval policy in force, fetched once and kept in history."""
        policy = await self.step(
            "Load approval policy",
            ApprovalPolicyActivities.load_approval_policy,
            self.domain,
        )
        self.record(
            "policy",
            f"approval policy {policy.version}, reviewer registry {policy.registry.version}",
            policy=policy.model_dump(),
        )
        if not self._requester_checked:
            self._requester_checked = True
            self.check_requester(policy)
        return policy

    def check_requester(self, policy: ApprovalPolicy) -> None:
        """Record whether the requester signed the start request (``starter.py start`` does
        with their key). A verified requester is kept from deciding by identity, whatever
        spelling the input uses; an unverified one (an upstream system, say) by name."""
        named = self.trail.started_by
        try:
            token = workflow.memo_value(REQUESTER_MEMO, default=None, type_hint=str)
            if token is None:
                self.record("requester", f"requester {named} unverified: start not signed")
                return
            claims, signature = verify_start(
                token, policy.registry, workflow_id=workflow.info().workflow_id, now=workflow.now()
            )
        except SignatureRefused as err:
            self.record("requester", f"requester {named} unverified: {err}")
            return
        except Exception as err:  # an undecodable memo is the sender's problem, not the run's
            self.record(
                "requester", f"requester {named} unverified: unreadable ({type(err).__name__})"
            )
            return
        self.gate.verified_requester = claims.sub
        if not same_person(claims.sub, named):
            self.record(
                "requester",
                f"start signed by {claims.sub}, but the input names {named}: both are kept "
                "from deciding",
                actor=claims.sub,
                signature=signature,
            )
            return
        self.trail.requester_verified = True
        self.record(
            "requester", f"requester {claims.sub} verified", actor=claims.sub, signature=signature
        )

    async def step(
        self,
        name: str,
        activity: Callable[..., Awaitable[R]],
        arg: Any,
        *,
        summary: str | None = None,
        recorded: Callable[[R], object] | None = None,
        handled: bool = False,
    ) -> R:
        """Run one activity as a named step, under the policy declared on the activity.

        ``recorded`` puts the result in the audit trail once the step succeeded. A step that
        fails is on record; unless the process ``handled`` the failure itself (it catches
        ``StepFailed`` and takes its safe path), the run is marked failed and ends with it."""
        rules = policy_of(activity)
        self.upsert([])
        record = StepRecord(name=name, status="running", started_at=workflow.now())
        self.steps.append(record)
        self._refresh_details()
        try:
            result: R
            # One local step at a time: the SDK resolves concurrent local activities in
            # another order on replay than live; a second one meanwhile runs as an ordinary one.
            if rules.local and self.local_steps and not self._local_step_running:
                self._local_step_running = True
                try:
                    result = await workflow.execute_local_activity(
                        activity,
                        arg,
                        start_to_close_timeout=rules.start_to_close,
                        schedule_to_close_timeout=rules.schedule_to_close,
                        retry_policy=rules.retry,
                        summary=summary or name,
                    )
                finally:
                    self._local_step_running = False
            else:
                result = await workflow.execute_activity(
                    activity,
                    arg,
                    start_to_close_timeout=rules.start_to_close,
                    schedule_to_close_timeout=rules.schedule_to_close,
                    heartbeat_timeout=rules.heartbeat,
                    retry_policy=rules.retry,
                    # Model calls go to the model queue beside this run's queue (rate-limited).
                    task_queue=rules.task_queue
                    or (model_task_queue(workflow.info().task_queue) if rules.model_call else None),
                    summary=summary or name,
                )
        except (ActivityError, ApplicationError, TemporalTimeout) as err:
            cause, attempts = failure_of(err)
            cause_type = cause.type if isinstance(cause, ApplicationError) else None
            message = f"{name} failed: {getattr(cause, 'message', None) or err.message}"
            record.status, record.finished_at, record.note = "failed", workflow.now(), message
            self.record("failure", message, error_type=cause_type, retry_state=str(attempts))
            failure = StepFailed(message, cause_type)
            if not handled:
                self.fail(failure)
            raise failure from err
        record.status, record.finished_at = "completed", workflow.now()
        attempt = attempts_of(result)
        if attempt > 1:
            record.attempts = attempt
            self.record("retry", f"{name} succeeded on attempt {attempt}")
        self._refresh_details()
        if recorded is not None:
            recorded(result)
        return result

    async def ask(self, request: DecisionRequest, policy: ApprovalPolicy) -> Decision:
        """Wait for the humans the policy names; shown as a waiting step meanwhile."""
        record = StepRecord(
            name=f"Wait for decision: {request.kind}",
            status="waiting",
            started_at=workflow.now(),
        )
        self.steps.append(record)
        with workflow_span(record.name, **{"sluice.decision.kind": request.kind}) as span:
            decision = await self.gate.ask(request, policy)
            if span is not None:
                span.set_attribute("sluice.decision.outcome", decision.outcome)
        record.status, record.finished_at = "completed", workflow.now()
        record.note = decision.outcome
        self._refresh_details()
        return decision

    async def wait_for_input(
        self, request: InputRequest, deadline: datetime
    ) -> dict[str, ProvidedInput] | None:
        """Wait for a person to provide every item of ``request`` (None: the deadline
        passed first); shown as a waiting step and listed as pending meanwhile."""
        record = StepRecord(
            name=f"Wait for input: {', '.join(request.items)}",
            status="waiting",
            started_at=workflow.now(),
        )
        self.steps.append(record)
        self.upsert([])
        with workflow_span(record.name, **{"sluice.input.kind": request.kind}) as span:
            provided = await self.inbox.wait(request, deadline)
            record.note = "received" if provided is not None else "deadline passed"
            if span is not None:
                span.set_attribute("sluice.input.outcome", record.note)
        record.status, record.finished_at = "completed", workflow.now()
        self._refresh_details()
        return provided

    def set_risk(self, risk: RiskLevel, why: str) -> None:
        self.risk = risk
        if self.local_steps:
            # The decision that follows the risk upserts its status: both go in one event.
            self._held.append(RISK_LEVEL.value_set(risk.value))
        else:
            workflow.upsert_search_attributes([RISK_LEVEL.value_set(risk.value)])
        self.record("risk", f"risk {risk.value}: {why}")

    def upsert(self, updates: Sequence[SearchAttributeUpdate[Any]]) -> None:
        """Set search attributes, with any held back, in one event."""
        updates, self._held = [*self._held, *updates], []
        if updates:
            workflow.upsert_search_attributes(updates)

    def record(
        self, kind: AuditKind, summary: str, *, actor: str | None = None, **detail: Any
    ) -> None:
        if kind in REFUSALS:
            self.refusals += 1
            if self.refusals > REFUSALS_RECORDED + 1:
                return
            if self.refusals > REFUSALS_RECORDED:
                kind, actor, detail = "flooded", None, {}
                summary = (
                    f"more than {REFUSALS_RECORDED} messages refused: the run is being "
                    "flooded; further refusals are counted in its status, not recorded"
                )
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
        self.upsert([])
        self.state, self.outcome = "completed", outcome
        status = self.status()
        self.record(
            "completed",
            summary,
            model_usage=status.model_usage,
            model_cost_usd=status.model_cost_usd,
        )
        self._refresh_details()

    def fail(self, failure: StepFailed) -> None:
        """Mark the run failed (``step`` does, for a failure the process does not handle):
        status and audit keep the reason."""
        self.upsert([])
        self.state, self.failure = "failed", failure.message
        self._refresh_details()

    # --- how humans and tools talk to a run ----------------------------------------------
    # Every signal and update reaches the run still encoded, through the two dynamic handlers
    # below, and is read by ``read_message``: what cannot be read is refused on the record
    # (a signal) or to the caller (an update), and the run carries on unchanged.

    @workflow.signal(dynamic=True)
    async def receive_signal(self, name: str, payloads: Sequence[RawValue]) -> None:
        """``approve`` / ``reject`` (decisions), ``refresh_policy``, and the domain's inputs."""
        if name == REFRESH_POLICY:
            await self.refresh_policy()
            return
        schema = DECISION_SIGNALS.get(name) or self.inputs.get(name)
        if schema is None:
            self.record("message_refused", f"unknown signal {shown(name)} ignored")
            return
        kind: AuditKind = "decision_refused" if name in DECISION_SIGNALS else "input_refused"
        try:
            message = read_message(payloads, schema)
        except MessageRefused as err:
            self.record(kind, f"malformed {shown(name)} signal ignored: {err}")
            return
        if isinstance(message, ProvidedInput):
            self.inbox.deliver(message, name)
        else:
            self.gate.vote(vote_from(message))

    async def refresh_policy(self) -> None:
        """Re-read the approval policy (``starter.py refresh-policy``), so access revoked in
        the configuration also reaches runs that are already waiting. Its payload, if any,
        is not read: the policy comes from the configuration."""
        policy = await self.approval_policy()
        revoked = self.gate.apply_policy(policy)
        if revoked:
            self.record("policy", f"reviewers no longer allowed: {', '.join(revoked)}")

    @workflow.update(dynamic=True)
    def receive_update(self, name: str, payloads: Sequence[RawValue]) -> DecisionReceipt:
        """``decide``: approve or reject, answered at once with what the run did with it."""
        return self.gate.vote(vote_from(read_message(payloads, DecisionInput)))

    @receive_update.validator
    def _check_update(self, name: str, payloads: Sequence[RawValue]) -> None:
        """Refuse to the caller, before anything is recorded, what the run would not accept."""
        if name != DECIDE:
            raise ValueError(f"this run takes no update {shown(name)}; send '{DECIDE}'")
        try:
            decision = read_message(payloads, DecisionInput)
        except MessageRefused as err:
            raise ValueError(f"malformed decision: {err}") from None
        checked = self.gate.check(vote_from(decision), strict=True)
        if isinstance(checked, str):
            raise ValueError(checked)

    @workflow.query(name="status")
    def status(self) -> RunStatus:
        usage: dict[str, int] = {"input_tokens": 0, "output_tokens": 0, "calls": 0}
        cost = 0.0
        for event in self.trail.of_kind("model_output"):
            tokens = event.detail.get("usage", {})
            usage["input_tokens"] += int(tokens.get("input_tokens", 0))
            usage["output_tokens"] += int(tokens.get("output_tokens", 0))
            usage["calls"] += 1
            cost += float(event.detail.get("cost_usd") or 0.0)
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
            model_cost_usd=round(cost, 8),
            awaiting_input=self.inbox.awaiting,
            refused_messages=self.refusals,
            flooded=self.refusals > REFUSALS_RECORDED,
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
        if self.inbox.awaiting:
            lines.append(f"Waiting for: {', '.join(self.inbox.awaiting.outstanding)}")
        if self.gate.pending:
            lines.append(f"Waiting for: {self.gate.pending.request.kind}")
        if self.risk:
            lines.append(f"Risk: {self.risk.value}")
        if self.failure:
            lines.append(f"Failure: {self.failure}")
        workflow.set_current_details("\n\n".join(lines))


def failure_of(err: FailureError) -> tuple[BaseException | None, RetryState | None]:
    """A failed step's cause and why it was not retried further. An ordinary activity's
    failure arrives as an ``ActivityError`` around its cause; a local activity's arrives as
    the cause itself, so its retry state is read off the cause the same way the server would
    have set it."""
    if isinstance(err, ActivityError):
        return err.cause, err.retry_state
    if isinstance(err, TemporalTimeout):
        return err, RetryState.TIMEOUT
    if isinstance(err, ApplicationError) and err.non_retryable:
        return err, RetryState.NON_RETRYABLE_FAILURE
    return err, RetryState.MAXIMUM_ATTEMPTS_REACHED


def attempts_of(result: object) -> int:
    """How many attempts a step's activity took, as its result says: receipts of business
    actions carry ``attempt``, model answers carry it on their ``ModelRecord``."""
    for holder in (result, getattr(result, "model", None)):
        attempt = getattr(holder, "attempt", None)
        if isinstance(attempt, int):
            return attempt
    return 1
