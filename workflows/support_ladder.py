"""The support ladder's decisions: what a run may do on its own, what an agent must approve,
and what only a supervisor may approve, applied by the support triage workflow to the ladder
it loaded (``activities/support/ladder.py``) and to validated fields only: the model's
category and confidence (schema-checked), the CRM's order amounts and customer spend, and the
names of the text guard rules that fired. Nothing the customer wrote decides an action; a
model that was talked into anything can at most ask a human.

Replayed logic, kept with the workflow: every run in flight decides again with these functions
when it replays, so a change here needs ``BusinessProcess.patched`` (and a new ``LADDER_RULES``).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from activities.connectors.crm import CustomerHistory
from activities.support.ladder import AuthorityLadder, Level
from activities.support.models import (
    Category,
    RefundOffer,
    TicketClassification,
)

# Version of the rules below; the ladder's own version (a hash of its data) is separate.
LADDER_RULES = "support-ladder/2026.11.1"

_RANK: dict[Level, int] = {"auto": 0, "agent": 1, "supervisor": 2}


class LadderFacts(BaseModel):
    """The validated facts the ladder reads: nothing here is free text."""

    classification: TicketClassification
    ticket_guard_hits: list[str] = Field(default_factory=list)
    reply_guard_hits: list[str] = Field(default_factory=list)
    customer_known: bool
    lifetime_spend: Decimal = Decimal("0")
    refund: RefundOffer | None = None


class Rung(BaseModel):
    """One rule of the ladder that applied to this ticket."""

    rule: str
    level: Level
    decision_kind: str | None = None
    reason: str


class Authority(BaseModel):
    """What the ladder requires for this ticket: the highest rung that applied wins."""

    ruleset: str
    ladder_version: str
    level: Level
    decision_kind: str | None
    rungs: list[Rung]

    @property
    def automatic(self) -> bool:
        return self.level == "auto"


def queue_for(
    ladder: AuthorityLadder, classification: TicketClassification, ticket_guard_hits: list[str]
) -> str:
    """The category's queue, or the human queue when the ticket cannot be trusted to it."""
    if ticket_guard_hits or classification.confidence < ladder.human_review_below_confidence:
        return ladder.human_queue
    return ladder.queues.get(classification.category, ladder.human_queue)


def pages_on_call(
    ladder: AuthorityLadder, classification: TicketClassification, ticket_guard_hits: list[str]
) -> bool:
    """Urgent tickets page on-call, unless the text tried to steer the model: an attacker
    must not be able to wake someone up by writing "urgent"."""
    return classification.urgency in ladder.page_on_urgency and not ticket_guard_hits


def refund_offer(
    classification: TicketClassification, history: CustomerHistory
) -> RefundOffer | None:
    """A refund can only be proposed for the order the ticket names, if the CRM holds it for
    this customer, and only up to what has not been refunded yet."""
    order = history.referenced_order
    if classification.category != Category.REFUND_REQUEST or order is None:
        return None
    if order.refundable <= 0:
        return None
    return RefundOffer(order_id=order.order_id, amount=order.refundable, currency=order.currency)


def required_authority(ladder: AuthorityLadder, facts: LadderFacts) -> Authority:
    """Every rung that applies, and the highest level among them."""
    triage = facts.classification
    rungs: list[Rung] = []
    refund = facts.refund
    if refund is not None:
        if refund.currency != ladder.currency or refund.amount > ladder.refund_supervisor_above:
            rungs.append(
                Rung(
                    rule="refund_above_supervisor_threshold",
                    level="supervisor",
                    decision_kind=ladder.supervisor_refund_approval,
                    reason=(
                        f"refund of {refund.amount} {refund.currency} is above "
                        f"{ladder.refund_supervisor_above} {ladder.currency}"
                    ),
                )
            )
        rungs.append(
            Rung(
                rule="refund_needs_agent",
                level="agent",
                decision_kind=ladder.agent_approval.get(Category.REFUND_REQUEST)
                or ladder.reply_approval,
                reason=f"refund of {refund.amount} {refund.currency} on order {refund.order_id}",
            )
        )
    if triage.category in ladder.agent_approval:
        rungs.append(
            Rung(
                rule="category_needs_agent",
                level="agent",
                decision_kind=ladder.agent_approval[triage.category],
                reason=f"{triage.category.value} tickets are answered only with an agent",
            )
        )
    if (
        triage.category == Category.COMPLAINT
        and facts.customer_known
        and facts.lifetime_spend >= ladder.high_value_lifetime_spend
    ):
        rungs.append(
            Rung(
                rule="high_value_complaint",
                level="agent",
                decision_kind=ladder.high_value_complaint_approval,
                reason=(
                    f"complaint from a customer with lifetime spend of at least "
                    f"{ladder.high_value_lifetime_spend} {ladder.currency}"
                ),
            )
        )
    generic = ladder.reply_approval
    if facts.ticket_guard_hits:
        rungs.append(
            Rung(
                rule="suspected_prompt_injection",
                level="agent",
                decision_kind=generic,
                reason=f"ticket text trips guard rules: {', '.join(facts.ticket_guard_hits)}",
            )
        )
    if facts.reply_guard_hits:
        rungs.append(
            Rung(
                rule="reply_makes_commitment",
                level="agent",
                decision_kind=generic,
                reason=(
                    "the drafted reply says what a template would not: "
                    + ", ".join(facts.reply_guard_hits)
                ),
            )
        )
    if triage.confidence < ladder.human_review_below_confidence:
        rungs.append(
            Rung(
                rule="low_confidence",
                level="agent",
                decision_kind=generic,
                reason=(
                    f"classification confidence {triage.confidence:.2f} is below "
                    f"{ladder.human_review_below_confidence:.2f}"
                ),
            )
        )
    elif triage.category not in ladder.auto_reply_categories:
        rungs.append(
            Rung(
                rule="not_an_auto_reply_category",
                level="agent",
                decision_kind=generic,
                reason=f"{triage.category.value} replies are reviewed by an agent",
            )
        )
    elif triage.confidence < ladder.auto_reply_min_confidence:
        rungs.append(
            Rung(
                rule="confidence_below_auto_reply",
                level="agent",
                decision_kind=generic,
                reason=(
                    f"confidence {triage.confidence:.2f} is below the "
                    f"{ladder.auto_reply_min_confidence:.2f} needed to reply automatically"
                ),
            )
        )
    if not rungs:
        rungs.append(
            Rung(
                rule="auto_reply",
                level="auto",
                reason=(
                    f"{triage.category.value} with confidence {triage.confidence:.2f}: "
                    "low risk, answered automatically"
                ),
            )
        )
    top = max(rungs, key=lambda rung: _RANK[rung.level])
    return Authority(
        ruleset=LADDER_RULES,
        ladder_version=ladder.version,
        level=top.level,
        decision_kind=top.decision_kind,
        rungs=rungs,
    )
