"""The approval gate: one typed call for a workflow to ask humans for a decision.

``decision = await gate.ask(request, policy)`` pauses the run on a durable timer and a
condition, so a waiting run uses no worker compute. Decisions arrive as ``approve`` /
``reject`` signals (what the plain ``temporal`` CLI sends) or as the validated ``decide``
update (what ``starter.py`` sends, so a refused decision is answered at once).

The gate enforces what a compliance officer expects: a decision counts only when signed by a
key the reviewer registry trusts for the reviewer (``sluice/framework/signatures.py``), for this run
and this request; only allow-listed reviewers decide; the person who started a run does not
approve it; four-eyes requests need distinct reviewers, compared by verified identity (one
person's two keys are one reviewer); a decided request is never decided again. When the SLA
passes it escalates and keeps waiting; at the final timeout it takes the safe path (reject),
never approve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError

from sluice.activity_policy import policy_of
from sluice.framework.changes import LOCAL_STEPS_PATCH
from sluice.framework.names import NameRefused, canonical_name, canonical_or_none
from sluice.framework.notifications import Notification, NotificationActivities
from sluice.framework.policy import ApprovalPolicy
from sluice.framework.reviewer_notices import (
    DecisionNotice,
    NoticeReceipt,
    ReviewerNoticeActivities,
)
from sluice.framework.signatures import (
    HOW_TO_SIGN,
    MAX_TOKEN_CHARS,
    Signature,
    SignatureRefused,
    same_person,
    text_digest,
    verify_decision,
)
from sluice.search_attributes import (
    APPROVAL_STATUS,
    DECISION_NEEDED,
    DECISION_REQUESTED_AT,
    ApprovalStatus,
    RiskLevel,
)

SYSTEM_REVIEWER = "system"
# Runs that were waiting before signed decisions keep taking decisions by name.
SIGNED_DECISIONS_PATCH = "signed-decisions"
# Since 2026-12 every allowed reviewer is told when a decision waits for them (inbox notices);
# requests made before are not (replay); deprecate once none of them is left.
REVIEWER_NOTICES_PATCH = "reviewer-notices-2026-12"


class DecisionRequest(BaseModel):
    """What must be decided, with the evidence a reviewer needs to decide it."""

    kind: str = Field(description="e.g. customs_release, kyc_approval, refund_approval")
    question: str
    risk: RiskLevel
    evidence: list[str] = Field(default_factory=list)
    model_rationale: str | None = None
    approvals_required: int = Field(default=1, ge=1, le=3)
    excluded_reviewers: list[str] = Field(default_factory=list)
    safe_path: str = "the request is rejected"
    accepts_final_text: bool = False
    amount_up_to: Decimal | None = Field(
        default=None, description="An approver may approve a lower amount, up to this one"
    )


class ApproveSignal(BaseModel):
    """Payload of the ``approve`` signal."""

    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(min_length=1, max_length=120)
    comment: str | None = Field(default=None, max_length=4000)
    final_text: str | None = Field(default=None, max_length=20000)
    amount: Decimal | None = Field(default=None, gt=0, max_digits=14, decimal_places=2)
    token: str | None = Field(default=None, max_length=MAX_TOKEN_CHARS)


class RejectSignal(BaseModel):
    """Payload of the ``reject`` signal."""

    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(min_length=1, max_length=120)
    reason: str = Field(min_length=1, max_length=4000)
    token: str | None = Field(default=None, max_length=MAX_TOKEN_CHARS)


class DecisionInput(BaseModel):
    """Payload of the ``decide`` update: approve or reject, answered synchronously."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["approve", "reject"]
    reviewer: str = Field(min_length=1, max_length=120)
    comment: str | None = Field(default=None, max_length=4000)
    reason: str | None = Field(default=None, max_length=4000)
    final_text: str | None = Field(default=None, max_length=20000)
    amount: Decimal | None = Field(default=None, gt=0, max_digits=14, decimal_places=2)
    token: str | None = Field(default=None, max_length=MAX_TOKEN_CHARS)


class Vote(BaseModel):
    reviewer: str
    verdict: Literal["approve", "reject"]
    at: datetime
    comment: str | None = None
    reason: str | None = None
    final_text: str | None = None
    amount: Decimal | None = None
    # The token as received; once verified, ``signature`` says who signed it.
    token: str | None = Field(default=None, exclude=True)
    signature: Signature | None = None


class Decision(BaseModel):
    """The outcome of a decision request."""

    outcome: Literal["approved", "rejected", "not_required", "timed_out"]
    decided_at: datetime
    reviewers: list[str] = Field(default_factory=list)
    reason: str | None = None
    comment: str | None = None
    final_text: str | None = None
    # The amount the approver set, lower than the one asked for; None: as asked.
    amount: Decimal | None = None
    votes: list[Vote] = Field(default_factory=list)

    @property
    def approved(self) -> bool:
        return self.outcome in ("approved", "not_required")


class PendingDecision(BaseModel):
    """A request waiting for reviewers, as the ``status`` query and the CLI show it."""

    request: DecisionRequest
    # "<run id>/<n>": the n-th request of this run; a signed decision names the one it answers.
    request_id: str = ""
    requested_at: datetime
    sla_deadline: datetime
    final_deadline: datetime
    escalated: bool = False
    allowed_reviewers: list[str] = Field(default_factory=list)
    approvals: list[str] = Field(default_factory=list)


class DecisionReceipt(BaseModel):
    """The answer to a decision sent by update."""

    accepted: bool
    message: str
    decision: Decision | None = None


Recorder = Callable[..., None]


class ApprovalGate:
    """Human decisions for one run. Owned by the workflow; signals and updates call ``vote``."""

    def __init__(
        self,
        record: Recorder,
        on_change: Callable[[], None],
        *,
        canonical_names: bool,
        patched: Callable[[str], bool],
        upsert: Callable[[Sequence[SearchAttributeUpdate[Any]]], None],
    ) -> None:
        self._record = record
        self._on_change = on_change
        # How the owning process asks whether a change is in force (``BusinessProcess.patched``:
        # never ``workflow.patched`` itself, which misses after a local step on replay) and sets
        # search attributes (with any it held back).
        self._patched = patched
        self._upsert = upsert
        # Runs started before names were compared canonically keep the old rules (replay).
        self.canonical_names = canonical_names
        self.policy: ApprovalPolicy | None = None
        self.pending: PendingDecision | None = None
        self.decision: Decision | None = None
        self.status: ApprovalStatus | None = None
        self._votes: list[Vote] = []
        self._escalation: workflow.ActivityHandle[Any] | None = None
        self._notices: workflow.ActivityHandle[NoticeReceipt] | None = None
        # The run's subject id (shipment, application, ticket): all a notice says of the case.
        self.subject = ""
        self._asked = 0
        self._signed = False
        self._used_tokens: set[str] = set()
        # The requester as their signed start request proves them, if it did.
        self.verified_requester: str | None = None

    def not_required(self, reason: str) -> Decision:
        """Record that this run needs no human decision, and why."""
        self.decision = Decision(outcome="not_required", decided_at=workflow.now(), reason=reason)
        self._set_status(ApprovalStatus.NOT_REQUIRED)
        self._record("decision", f"no human decision needed: {reason}", actor=SYSTEM_REVIEWER)
        return self.decision

    async def ask(self, request: DecisionRequest, policy: ApprovalPolicy) -> Decision:
        """Wait for a decision on ``request`` under ``policy``; escalate, then fail safe."""
        now = workflow.now()
        self.policy = policy
        self._asked += 1
        self._signed = self._patched(SIGNED_DECISIONS_PATCH)
        # A later request of the same run starts undecided.
        self.decision, self._votes = None, []
        self.pending = PendingDecision(
            request=request,
            request_id=f"{workflow.info().run_id}/{self._asked}",
            requested_at=now,
            sla_deadline=now + policy.sla,
            final_deadline=now + policy.final_timeout,
            allowed_reviewers=policy.allowed_reviewers(request.kind),
        )
        needed: list[SearchAttributeUpdate[Any]] = [
            DECISION_NEEDED.value_set(request.kind),
            DECISION_REQUESTED_AT.value_set(now),
        ]
        if self._patched(LOCAL_STEPS_PATCH):
            self._set_status(ApprovalStatus.PENDING, also=needed)  # one event
        else:
            self._upsert(needed)
            self._set_status(ApprovalStatus.PENDING)
        self._record(
            "decision_requested",
            f"{request.kind}: {request.question}",
            risk=request.risk.value,
            evidence=request.evidence,
            model_rationale=request.model_rationale,
            approvals_required=request.approvals_required,
            sla_minutes=policy.sla.total_seconds() / 60,
            request_id=self.pending.request_id,
        )
        self._notices = None
        if self._patched(REVIEWER_NOTICES_PATCH):
            self._notices = self._notify_reviewers(policy)
        if not await self._wait(policy.sla):
            await self._escalate(request, policy)
            if not await self._wait(policy.final_timeout - policy.sla):
                self._time_out(request, policy)
        if self._escalation is not None:
            await self._settle_escalation()
        if self._notices is not None:
            self._settle_notices(self._notices)
        assert self.decision is not None
        return self.decision

    def _notify_reviewers(self, policy: ApprovalPolicy) -> workflow.ActivityHandle[NoticeReceipt]:
        """Tell every allowed reviewer, alongside the wait: a slow relay delays no decision."""
        assert self.pending is not None
        pending, info = self.pending, workflow.info()
        notice = DecisionNotice(
            workflow_id=info.workflow_id,
            request_id=pending.request_id,
            process=policy.domain,
            kind=pending.request.kind,
            subject=self.subject,
            risk=pending.request.risk.value,
            final_deadline=pending.final_deadline,
            # Not those who may not decide it: whoever started the run.
            reviewers=[
                reviewer
                for reviewer in pending.allowed_reviewers
                if reviewer not in pending.request.excluded_reviewers
                and not (self.verified_requester and same_person(reviewer, self.verified_requester))
            ],
        )
        send: Any = ReviewerNoticeActivities.notify_reviewers
        rules = policy_of(send)
        return workflow.start_activity(
            send,
            notice,
            start_to_close_timeout=rules.start_to_close,
            retry_policy=rules.retry,
            summary=f"Tell the reviewers of {pending.request.kind}",
        )

    def _settle_notices(self, notices: workflow.ActivityHandle[NoticeReceipt]) -> None:
        """Once the request is decided, a notice still being sent is moot: it is cancelled,
        so a slow or broken relay never holds up the run. A finished one's gaps are recorded."""
        if not notices.done():
            notices.cancel()
            return
        error = notices.exception()
        if error is not None:
            cause = getattr(error, "cause", None) or error
            self._record("failure", f"decision-request notices not delivered: {cause}")
            return
        receipt = notices.result()
        if receipt.unreachable:
            self._record(
                "failure",
                f"no e-mail address for {', '.join(receipt.unreachable)}: not notified",
            )

    async def _settle_escalation(self) -> None:
        assert self._escalation is not None
        try:
            await self._escalation
        except ActivityError as err:
            cause = err.cause or err
            self._record("failure", f"escalation notice not delivered: {cause}")

    def apply_policy(self, policy: ApprovalPolicy) -> list[str]:
        """A newer policy reaches a waiting request at once (a revoked reviewer can no longer
        decide it); returns the reviewers who lost the right to decide it."""
        if self.policy is not None:
            self.policy = policy
        if self.pending is None:
            return []
        allowed = policy.allowed_reviewers(self.pending.request.kind)
        still = {self._name_key(name) for name in allowed}
        revoked = [r for r in self.pending.allowed_reviewers if self._name_key(r) not in still]
        self.pending.allowed_reviewers = allowed
        self._on_change()
        return revoked

    def check(self, vote: Vote, *, strict: bool = False) -> Vote | str:
        """``vote`` as the gate would record it (the reviewer's name in canonical form), or
        why it cannot be accepted now: the one rule book for signals and the update.

        Names are compared canonically on both sides of every rule (allow-list, requester,
        distinct reviewers). ``strict`` applies these rules even to a run started before them:
        the update's validator passes it, as a refused update leaves no history to replay."""
        current = strict or self.canonical_names
        if current:
            try:
                vote = vote.model_copy(update={"reviewer": canonical_name(vote.reviewer)})
            except NameRefused as err:
                return f"reviewer name refused: {err}"
            if vote.verdict == "reject" and not (vote.reason or "").strip():
                return "a rejection needs a reason"
        else:
            vote = vote.model_copy(update={"reviewer": vote.reviewer.strip()})
        if self.decision is not None:
            who = ", ".join(self.decision.reviewers) or SYSTEM_REVIEWER
            return f"already decided: {self.decision.outcome} by {who}"
        if self.pending is None or self.policy is None:
            return "this run is not waiting for a decision"
        authenticated = self.authenticate(vote)
        if isinstance(authenticated, str):
            return authenticated
        vote = authenticated
        request = self.pending.request
        reviewer = vote.reviewer

        def named(names: list[str]) -> set[str | None]:
            return {canonical_or_none(n) if current else n for n in names}

        if reviewer not in named(self.pending.allowed_reviewers):
            return f"reviewer '{reviewer}' is not allowed to decide '{request.kind}'"
        requester = self.verified_requester
        if reviewer in named(request.excluded_reviewers) or (
            requester is not None and same_person(reviewer, requester)
        ):
            return f"reviewer '{reviewer}' started this run and cannot decide it"
        if any(earlier.reviewer == reviewer for earlier in self._votes):
            return (
                f"reviewer '{reviewer}' has already approved; "
                f"{request.approvals_required} different reviewers are required"
            )
        if vote.amount is not None:
            refused = amount_refusal(request, vote.verdict, vote.amount, vote.final_text)
            if refused:
                return refused
        return vote

    def authenticate(self, vote: Vote) -> Vote | str:
        """The vote under the identity its signature proves, or why it cannot count. Runs
        that began waiting before signed decisions take it by name, as they did then."""
        if self.pending is None or self.policy is None or not self._signed:
            return vote
        if vote.token is None:
            if self.policy.require_signed_decisions:
                return f"unsigned decision: {HOW_TO_SIGN}"
            return vote
        try:
            claims, signature = verify_decision(
                vote.token,
                self.policy.registry,
                workflow_id=workflow.info().workflow_id,
                request_id=self.pending.request_id,
                now=workflow.now(),
                verdict=vote.verdict,
                comment=vote.comment,
                reason=vote.reason,
                amount=vote.amount,
                final_text_sha256=text_digest(vote.final_text),
            )
        except SignatureRefused as err:
            return f"signature refused: {err}"
        if claims.jti in self._used_tokens:
            return f"signature refused: token {claims.jti} was already used"
        if not same_person(vote.reviewer, claims.sub):
            return f"signature refused: the token is {claims.sub}'s, not {vote.reviewer}'s"
        return vote.model_copy(update={"reviewer": claims.sub, "signature": signature})

    def vote(self, vote: Vote) -> DecisionReceipt:
        """Apply a reviewer's decision, or record why it was refused."""
        checked = self.check(vote)
        if isinstance(checked, str):
            self._record(
                "decision_refused",
                f"{vote.verdict} refused: {checked}",
                actor=self._name_key(vote.reviewer),
            )
            return DecisionReceipt(accepted=False, message=checked)
        vote = checked
        assert self.pending is not None
        if vote.signature is not None:
            self._used_tokens.add(vote.signature.token_id)
        self._votes.append(vote)
        self.pending.approvals = [v.reviewer for v in self._votes if v.verdict == "approve"]
        if vote.verdict == "reject":
            return self._decide("rejected", vote)
        if len(self.pending.approvals) >= self.pending.request.approvals_required:
            return self._decide("approved", vote)
        self._record(
            "vote",
            f"approval {len(self._votes)} recorded",
            actor=vote.reviewer,
            comment=vote.comment,
            **({"amount": str(vote.amount)} if vote.amount is not None else {}),
            **signed_by(vote),
        )
        self._on_change()
        needed = self.pending.request.approvals_required - len(self.pending.approvals)
        return DecisionReceipt(
            accepted=True, message=f"approval recorded; {needed} more reviewer(s) needed"
        )

    def _name_key(self, name: str) -> str | None:
        """A name as this run compares it (None: a name that matches nobody)."""
        return canonical_or_none(name) if self.canonical_names else name.strip()

    def _decide(self, outcome: Literal["approved", "rejected"], last: Vote) -> DecisionReceipt:
        self.decision = Decision(
            outcome=outcome,
            decided_at=last.at,
            reviewers=[v.reviewer for v in self._votes],
            reason=last.reason,
            comment=last.comment,
            final_text=last.final_text,
            amount=last.amount if outcome == "approved" else None,
            votes=list(self._votes),
        )
        self.pending = None
        self._set_status(
            ApprovalStatus.APPROVED if outcome == "approved" else ApprovalStatus.REJECTED
        )
        self._record(
            "decision",
            f"{outcome} by {', '.join(self.decision.reviewers)}",
            actor=last.reviewer,
            comment=last.comment,
            reason=last.reason,
            edited_text=last.final_text is not None,
            **({"amount": str(last.amount)} if last.amount is not None else {}),
            **signed_by(last),
        )
        return DecisionReceipt(accepted=True, message=outcome, decision=self.decision)

    async def _wait(self, limit: timedelta) -> bool:
        try:
            await workflow.wait_condition(lambda: self.decision is not None, timeout=limit)
        except TimeoutError:
            return False
        return True

    async def _escalate(self, request: DecisionRequest, policy: ApprovalPolicy) -> None:
        assert self.pending is not None
        self.pending.escalated = True
        self._set_status(ApprovalStatus.ESCALATED)
        self._record(
            "escalated",
            f"no decision within {policy.sla}; escalated to {policy.escalation_contact}",
            actor=SYSTEM_REVIEWER,
        )
        info = workflow.info()
        notification = Notification(
            recipient=policy.escalation_contact,
            channel="escalation",
            subject=f"Decision overdue: {request.kind} on {info.workflow_id}",
            body=(
                f"Run {info.workflow_id} ({info.workflow_type}) has waited {policy.sla} for "
                f"'{request.kind}' (risk {request.risk.value}). If nobody decides by "
                f"{self.pending.final_deadline.isoformat()}, {request.safe_path}."
            ),
            idempotency_key=f"{info.workflow_id}:escalation:{request.kind}",
        )
        send: Any = NotificationActivities.send_notification
        rules = policy_of(send)
        # Runs concurrently with the wait, so a slow notifier never delays a decision.
        self._escalation = workflow.start_activity(
            send,
            notification,
            start_to_close_timeout=rules.start_to_close,
            retry_policy=rules.retry,
            summary=f"Escalate {request.kind} to {policy.escalation_contact}",
        )

    def _time_out(self, request: DecisionRequest, policy: ApprovalPolicy) -> None:
        self.decision = Decision(
            outcome="timed_out",
            decided_at=workflow.now(),
            reviewers=[SYSTEM_REVIEWER],
            reason=f"no decision within {policy.final_timeout}: {request.safe_path}",
            votes=list(self._votes),
        )
        self.pending = None
        self._set_status(ApprovalStatus.REJECTED)
        self._record("decision", f"timed out: {request.safe_path}", actor=SYSTEM_REVIEWER)

    def _set_status(
        self, status: ApprovalStatus, also: Sequence[SearchAttributeUpdate[Any]] = ()
    ) -> None:
        self.status = status
        self._upsert([*also, APPROVAL_STATUS.value_set(status.value)])
        self._on_change()


def signed_by(vote: Vote) -> dict[str, Any]:
    """What the audit keeps of a vote's signature: enough to re-check it offline."""
    if vote.signature is None:
        return {"signed": False}
    return {
        "signed": True,
        "signature": vote.signature.model_dump(mode="json"),
        "final_text_sha256": text_digest(vote.final_text),
    }


def vote_from(payload: ApproveSignal | RejectSignal | DecisionInput) -> Vote:
    """A vote from any of the three ways a decision arrives."""
    fields: dict[str, Any] = {
        "reviewer": payload.reviewer,
        "at": workflow.now(),
        "token": payload.token,
    }
    if isinstance(payload, ApproveSignal):
        return Vote(
            verdict="approve",
            comment=payload.comment,
            final_text=payload.final_text,
            amount=payload.amount,
            **fields,
        )
    if isinstance(payload, RejectSignal):
        return Vote(verdict="reject", reason=payload.reason, **fields)
    return Vote(
        verdict=payload.verdict,
        comment=payload.comment,
        reason=payload.reason,
        final_text=payload.final_text,
        amount=payload.amount,
        **fields,
    )


def amount_refusal(
    request: DecisionRequest, verdict: str, amount: Decimal, final_text: str | None
) -> str | None:
    """Why an approver's amount cannot be taken, or None: only with an approval, only where
    the request allows one, never more than asked, and where the request carries a text for
    people (a reply that states the amount), only with the text edited to match."""
    if verdict != "approve":
        return "an amount goes with an approval, not a rejection"
    if request.amount_up_to is None:
        return f"'{request.kind}' takes no amount"
    if amount > request.amount_up_to:
        return f"amount {amount} is more than the {request.amount_up_to} asked for"
    if amount < request.amount_up_to and request.accepts_final_text and not final_text:
        return (
            f"a lower amount ({amount} instead of {request.amount_up_to}) needs the edited "
            "text that states it"
        )
    return None
