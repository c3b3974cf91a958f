"""Support triage: answer a customer's ticket, with a person wherever the ladder says so.

The checklist a support desk follows, automated:
  1. check the ticket's text for attempts to steer the model (rules); a ticket that names no
     customer, has no readable text or names ids other than its own goes to a person as it is,
  2. classify it: category, urgency, sentiment, language, confidence (model),
  3. route it to its queue and page on-call when it is urgent (no approval needed),
  4. read the customer's history from the CRM (an unknown customer is a new contact),
  5. draft a reply grounded in that history, in the customer's language (model), and check
     it says nothing a template would not: only the company's links, no foreign addresses,
     bank or card numbers, no promise of money or of an account change (rules),
  6. decide by the authority ladder: reply on its own only for low-risk, confident cases;
     refunds, account access, privacy and high-value complaints need an agent, large refunds
     a supervisor; the approver may edit the reply, and an edited reply is checked again for
     what no reply may carry (hidden text or links, foreign links and addresses, bank or
     card numbers): one that fails goes to a person, and nothing is sent or refunded,
  7. issue the approved refund (the amount comes from the CRM order, never from the ticket;
     the approver may lower it, with the reply edited to say so),
     then send the reply; a rejected or unanswered ticket goes to a human queue with the
     draft attached, and nothing is sent.
Refund and reply are keyed by run and step: a retry or replay acts once.
"""

from __future__ import annotations

from typing import Any, Literal

from temporalio import workflow

from activities.connectors.crm import CrmActivities, CustomerHistory, CustomerLookup
from activities.connectors.payments import PaymentActivities, RefundOrder, RefundReceipt
from activities.connectors.ticketing import QueueAssignment, TicketingActivities, TicketReply
from activities.support.classification import TASK as CLASSIFY_TASK
from activities.support.classification import TicketClassificationActivities, offline_classify
from activities.support.drafting import TASK as DRAFT_TASK
from activities.support.drafting import ReplyDraftingActivities, offline_draft
from activities.support.factory import support_activities
from activities.support.guards import TextGuardActivities
from activities.support.ladder import AuthorityLadder, SupportLadderActivities, SupportSettings
from activities.support.models import (
    DraftedReply,
    DraftRequest,
    GuardContext,
    RefundOffer,
    SupportTriageOutcome,
    TextGuardReport,
    TextGuardRequest,
    Ticket,
    TicketClassification,
)
from sluice.framework import EXAMPLES, Process
from sluice.framework.approval import Decision, DecisionRequest
from sluice.framework.notifications import Notification, NotificationActivities
from sluice.framework.policy import ApprovalPolicy
from sluice.framework.process import BusinessProcess, StepFailed
from sluice.search_attributes import RiskLevel

# The ladder's decisions are imported once, outside the sandbox: they hold no state,
# and the sandbox would otherwise rebuild their pydantic classes for every run (the
# worker's runner passes through ``activities`` and ``sluice`` already).
with workflow.unsafe.imports_passed_through():
    from workflows.support_ladder import (
        Authority,
        LadderFacts,
        pages_on_call,
        queue_for,
        refund_offer,
        required_authority,
    )


# Since 2026-12 an approver's edited reply is checked before it goes out. Runs started
# before send it unchecked on replay; once none is left, deprecate the patch.
EDITED_REPLY_CHECK = "reply-check-2026-12"


@workflow.defn(name="SupportTriageWorkflow")
class SupportTriageWorkflow(BusinessProcess):
    domain = "support_triage"
    changes = (EDITED_REPLY_CHECK,)

    def __init__(self) -> None:
        super().__init__()
        self.triage: TicketClassification | None = None
        self.queue: str | None = None
        self.paged = False
        self.history: CustomerHistory | None = None
        self.authority: Authority | None = None

    @workflow.run
    async def run(self, ticket: Ticket) -> SupportTriageOutcome:
        self.begin(
            subject=ticket.ticket_id,
            started_by=f"{ticket.channel.value} channel",
            inputs={"ticket": ticket.sha256()},
        )
        policy = await self.approval_policy()
        ladder = await self.authority_ladder()

        # 1. Look for attempts to steer the model before any model reads the ticket. A ticket
        # that cannot be checked, read or trusted goes to a person as it is: nothing is sent.
        try:
            ticket_check = await self.check_ticket(ticket)
        except StepFailed as failure:
            return await self.hand_over(ticket, ladder, f"not checked: {failure.message}")
        if ticket.customer_id is None or any(hit.hands_over for hit in ticket_check.hits):
            return await self.hand_over(ticket, ladder, unhandled_because(ticket, ticket_check))

        # 2. Classify. A model that cannot give a valid answer hands the ticket to a person.
        try:
            classified = await self.step(
                "Classify ticket",
                TicketClassificationActivities.classify_ticket,
                ticket,
                recorded=lambda answer: self.record_model(answer.model, "classified ticket"),
                handled=True,
            )
        except StepFailed as failure:
            return await self.hand_over(ticket, ladder, f"not classified: {failure.message}")
        triage = self.triage = classified.classification

        # 3. Route and, when urgent, page on-call: neither needs an approval.
        guard_hits = [hit.rule for hit in ticket_check.hits]
        await self.route(ticket, queue_for(ladder, triage, guard_hits))
        if pages_on_call(ladder, triage, guard_hits):
            await self.page_on_call(ticket, ladder)

        # 4. Read the customer's history. Without it no reply is drafted: the run stops.
        history = self.history = await self.step(
            "Look up customer",
            CrmActivities.look_up_customer,
            CustomerLookup(customer_id=ticket.customer_id, order_id=ticket.order_id),
        )

        # 5. Draft the reply, and check it says nothing a template would not. A reply that
        # could not be checked goes to a person with the draft.
        refund = refund_offer(triage, history)
        try:
            drafted: DraftedReply = await self.step(
                "Draft reply",
                ReplyDraftingActivities.draft_reply,
                DraftRequest(ticket=ticket, classification=triage, history=history, refund=refund),
                recorded=lambda draft: self.record_model(draft.model, "drafted reply"),
                handled=True,
            )
        except StepFailed as failure:
            return await self.hand_over(ticket, ladder, f"no draft: {failure.message}")
        try:
            reply_check = await self.check_reply(triage, history, drafted)
        except StepFailed as failure:
            why = f"reply not checked: {failure.message}"
            return await self.hand_over(ticket, ladder, why, drafted.draft.body)

        # 6. Decide by the authority ladder, on validated fields only.
        authority = self.authority = required_authority(
            ladder,
            LadderFacts(
                classification=triage,
                ticket_guard_hits=guard_hits,
                reply_guard_hits=[hit.rule for hit in reply_check.hits],
                customer_known=history.known,
                lifetime_spend=history.lifetime_spend,
                refund=refund,
            ),
        )
        self.record_authority(authority, refund)
        decision = await self.decide_by_ladder(
            ticket, ladder, authority, refund, drafted, [ticket_check, reply_check], policy
        )

        # 7. Act: refund first (if approved), then the reply; otherwise hand over with the draft.
        # An edited reply that carries what no reply may goes to a person too.
        if not decision.approved:
            why = decision.reason or decision.outcome
            return await self.hand_over(ticket, ladder, why, drafted.draft.body, decision)
        reply = (decision.final_text or "").strip() or drafted.draft.body
        if reply != drafted.draft.body and (refused := await self.edit_refused(reply)):
            return await self.hand_over(ticket, ladder, refused, reply, decision)
        refunded = await self.issue_refund(ticket, refund, decision) if refund else None
        sent = await self.send_reply(ticket, reply, drafted, decision, refunded)

        outcome = self.outcome_of(ticket, "replied", decision=decision, reply_reference=sent)
        outcome.reply_edited = reply != drafted.draft.body
        if refunded:
            outcome.refund_reference = refunded.reference
            outcome.refund_amount, outcome.refund_currency = refunded.amount, refunded.currency
        self.complete(outcome, "reply sent" + (" and refund issued" if refunded else ""))
        return outcome

    # --- the steps, in the words of the checklist -------------------------------------------

    async def authority_ladder(self) -> AuthorityLadder:
        """The ladder in force, fetched once and kept in history."""
        ladder: AuthorityLadder = await self.step(
            "Load authority ladder", SupportLadderActivities.load_support_ladder, self.domain
        )
        self.record("policy", f"authority ladder {ladder.version}", ladder=ladder)
        return ladder

    async def check_ticket(self, ticket: Ticket) -> TextGuardReport:
        """The ticket's text, checked against the fields it must agree with."""
        return await self.check_text(
            "Check ticket text",
            TextGuardRequest(
                target="ticket",
                text=ticket.body,
                subject=ticket.subject,
                context=GuardContext(customer_id=ticket.customer_id, order_id=ticket.order_id),
            ),
        )

    async def check_reply(
        self, triage: TicketClassification, history: CustomerHistory, drafted: DraftedReply
    ) -> TextGuardReport:
        """The reply check: the addresses it may name and the language it must be in."""
        return await self.check_text(
            "Check drafted reply",
            TextGuardRequest(
                target="reply",
                text=drafted.draft.body,
                context=GuardContext(
                    customer_email=history.email,
                    language=triage.language,
                    stated_language=drafted.draft.language,
                ),
            ),
        )

    async def edit_refused(self, reply: str) -> str | None:
        """Why the approver's edited reply may not go out, if it may not: it carries what no
        reply may carry, whoever wrote it, or it could not be checked."""
        if not self.patched(EDITED_REPLY_CHECK):
            return None
        assert self.triage is not None and self.history is not None
        try:
            report = await self.check_text(
                "Check edited reply",
                TextGuardRequest(
                    target="edited_reply",
                    text=reply,
                    context=GuardContext(
                        customer_email=self.history.email, language=self.triage.language
                    ),
                ),
            )
        except StepFailed as failure:
            return f"edited reply not checked: {failure.message}"
        if report.hits:
            return "edited reply not sent: it breaks " + ", ".join(h.rule for h in report.hits)
        return None

    async def check_text(self, name: str, request: TextGuardRequest) -> TextGuardReport:
        # Both checks are handled by the caller: an unchecked text goes to a person.
        report: TextGuardReport = await self.step(
            name, TextGuardActivities.check_text, request, handled=True
        )
        # A reply was checked against the company's domains: the audit says which.
        domains: dict[str, Any] = (
            {"allowed_domains": report.allowed_domains} if request.target != "ticket" else {}
        )
        self.record(
            "rule_check",
            f"{report.ruleset} on the {request.target.replace('_', ' ')}: "
            f"{len(report.rules_applied)} rules, "
            f"{len(report.hits)} hits",
            rules=report.rules_applied,
            **domains,
        )
        for hit in report.hits:
            self.record("rule_hit", hit.message, rule=hit.rule, ruleset=report.ruleset)
        return report

    async def route(self, ticket: Ticket, queue: str) -> None:
        assert self.triage is not None
        receipt = await self.step(
            "Route ticket",
            TicketingActivities.route_ticket,
            QueueAssignment(
                ticket_id=ticket.ticket_id,
                queue=queue,
                reason=f"{self.triage.category.value}, urgency {self.triage.urgency.value}",
                idempotency_key=f"{workflow.info().workflow_id}:route",
            ),
        )
        self.queue = queue
        self.record("action", f"ticket routed to {queue} ({receipt.reference})", queue=queue)

    async def page_on_call(self, ticket: Ticket, ladder: AuthorityLadder) -> None:
        # The page carries ids and labels only: pagers and SMS are no place for ticket text.
        assert self.triage is not None
        workflow_id = workflow.info().workflow_id
        notice = await self.step(
            "Page on-call",
            NotificationActivities.send_notification,
            Notification(
                recipient=ladder.on_call_contact,
                channel="page",
                subject=f"Urgent ticket {ticket.ticket_id}: {self.triage.category.value}",
                body=f"Ticket {ticket.ticket_id} is in queue {self.queue}; run {workflow_id}.",
                idempotency_key=f"{workflow_id}:page-on-call",
            ),
        )
        self.paged = True
        self.record("action", f"on-call paged: {ladder.on_call_contact} ({notice.reference})")

    def record_authority(self, authority: Authority, refund: RefundOffer | None) -> None:
        self.record(
            "rule_check",
            f"{authority.ruleset} with {authority.ladder_version}: {authority.level}"
            + (f" ({authority.decision_kind})" if authority.decision_kind else ""),
            rules=[rung.rule for rung in authority.rungs],
            refund=refund,
        )
        for rung in authority.rungs:
            self.record("rule_hit", rung.reason, rule=rung.rule, ruleset=authority.ruleset)
        if authority.level == "supervisor" or any(
            rung.rule == "suspected_prompt_injection" for rung in authority.rungs
        ):
            risk = RiskLevel.HIGH
        else:
            risk = RiskLevel.MEDIUM if authority.level == "agent" else RiskLevel.LOW
        self.set_risk(risk, ", ".join(rung.rule for rung in authority.rungs))

    async def decide_by_ladder(
        self,
        ticket: Ticket,
        ladder: AuthorityLadder,
        authority: Authority,
        refund: RefundOffer | None,
        drafted: DraftedReply,
        checks: list[TextGuardReport],
        policy: ApprovalPolicy,
    ) -> Decision:
        """Automatic only where the ladder allows it; otherwise the named approver decides."""
        if authority.automatic or authority.decision_kind is None:
            return self.gate.not_required(authority.rungs[0].reason)
        assert self.triage is not None and self.history is not None
        action = "send the drafted reply"
        if refund:
            action = (
                f"refund {refund.amount} {refund.currency} on order {refund.order_id} and {action}"
            )
        return await self.ask(
            DecisionRequest(
                kind=authority.decision_kind,
                question=(
                    f"Ticket {ticket.ticket_id}: {action}? You may edit the reply"
                    + (" and lower the refund (with the reply edited to match)." if refund else ".")
                ),
                risk=self.risk or RiskLevel.MEDIUM,
                evidence=evidence_for(authority, self.triage, self.history, drafted, checks),
                model_rationale=self.triage.rationale,
                safe_path=(
                    f"the ticket goes to {ladder.human_queue} with the draft attached; "
                    "nothing is sent or refunded"
                ),
                accepts_final_text=True,
                amount_up_to=refund.amount if refund else None,
            ),
            policy,
        )

    async def issue_refund(
        self, ticket: Ticket, refund: RefundOffer, decision: Decision
    ) -> RefundReceipt:
        assert self.history is not None
        receipt: RefundReceipt = await self.step(
            "Issue refund",
            PaymentActivities.issue_refund,
            RefundOrder(
                order_id=refund.order_id,
                customer_id=self.history.customer_id,
                # The approver may have lowered it; never above the CRM's amount.
                amount=decision.amount or refund.amount,
                currency=refund.currency,
                idempotency_key=f"{workflow.info().workflow_id}:refund",
                authorised_by=decision.reviewers,
                ticket_id=ticket.ticket_id,
            ),
        )
        self.record(
            "action",
            f"refund issued: {receipt.amount} {receipt.currency} on {receipt.order_id} "
            f"({receipt.reference})",
            reference=receipt.reference,
            duplicate=receipt.duplicate,
            authorised_by=decision.reviewers,
        )
        return receipt

    async def send_reply(
        self,
        ticket: Ticket,
        text: str,
        drafted: DraftedReply,
        decision: Decision,
        refunded: RefundReceipt | None,
    ) -> str:
        """Send the reply (retried by the help desk's policy); a reply that never goes out
        after a refund leaves both on record for the person who picks the run up."""
        assert self.history is not None
        edited = text != drafted.draft.body
        try:
            sent = await self.step(
                "Send reply",
                TicketingActivities.send_ticket_reply,
                TicketReply(
                    ticket_id=ticket.ticket_id,
                    customer_id=self.history.customer_id,
                    language=drafted.draft.language,
                    body=text,
                    idempotency_key=f"{workflow.info().workflow_id}:reply",
                    approved_by=decision.reviewers or ["sluice-auto-reply"],
                ),
            )
        except StepFailed:
            if refunded:
                self.record(
                    "failure",
                    f"refund {refunded.reference} was issued but the reply was not sent",
                    refund_reference=refunded.reference,
                )
            raise
        self.record(
            "action",
            f"reply sent ({sent.reference}){' as edited by the approver' if edited else ''}",
            reference=sent.reference,
            duplicate=sent.duplicate,
        )
        return sent.reference

    async def hand_over(
        self,
        ticket: Ticket,
        ladder: AuthorityLadder,
        reason: str,
        draft: str | None = None,
        decision: Decision | None = None,
    ) -> SupportTriageOutcome:
        """Give the ticket to the human queue, draft attached; nothing goes to the customer."""
        receipt = await self.step(
            "Hand over to a person",
            TicketingActivities.hand_over_ticket,
            QueueAssignment(
                ticket_id=ticket.ticket_id,
                queue=ladder.human_queue,
                reason=reason,
                draft=draft,
                idempotency_key=f"{workflow.info().workflow_id}:handoff",
            ),
        )
        self.queue = ladder.human_queue
        self.record(
            "action",
            f"ticket handed to {ladder.human_queue} ({receipt.reference}); nothing sent",
            reference=receipt.reference,
            draft_attached=draft is not None,
        )
        outcome = self.outcome_of(ticket, "handed_to_human", decision=decision, reason=reason)
        self.complete(outcome, f"handed to {ladder.human_queue}")
        return outcome

    def outcome_of(
        self,
        ticket: Ticket,
        action: Literal["replied", "handed_to_human"],
        *,
        decision: Decision | None,
        reason: str | None = None,
        reply_reference: str | None = None,
    ) -> SupportTriageOutcome:
        triage = self.triage
        return SupportTriageOutcome(
            ticket_id=ticket.ticket_id,
            action=action,
            queue=self.queue,
            category=triage.category if triage else None,
            urgency=triage.urgency if triage else None,
            confidence=triage.confidence if triage else None,
            paged_on_call=self.paged,
            new_contact=(not self.history.known) if self.history else None,
            decision=decision.outcome if decision else None,
            decided_by=decision.reviewers if decision else [],
            ladder_rules=[rung.rule for rung in self.authority.rungs] if self.authority else [],
            reply_reference=reply_reference,
            reason=reason,
        )


def unhandled_because(ticket: Ticket, ticket_check: TextGuardReport) -> str:
    """Why a ticket goes to a person without being classified or drafted."""
    reasons = ["the ticket names no customer"] if ticket.customer_id is None else []
    reasons += [hit.message for hit in ticket_check.hits if hit.hands_over]
    return "; ".join(reasons)


def evidence_for(
    authority: Authority,
    triage: TicketClassification,
    history: CustomerHistory,
    drafted: DraftedReply,
    checks: list[TextGuardReport],
) -> list[str]:
    """What the approver needs on one screen: why they are asked (each rung, each guard hit),
    what the model made of the ticket, who the customer is, and the reply they may edit."""
    evidence = [f"[{rung.rule}] {rung.reason}" for rung in authority.rungs]
    evidence += [
        f"[{check.target} check {check.ruleset}] {hit.rule}: {hit.message}"
        for check in checks
        for hit in check.hits
    ]
    evidence.append(
        f"[classification] {triage.category.value}, urgency {triage.urgency.value}, "
        f"sentiment {triage.sentiment.value}, language {triage.language}, "
        f"confidence {triage.confidence:.2f}"
    )
    if history.known:
        evidence.append(
            f"[customer] since {history.customer_since}, lifetime spend "
            f"{history.lifetime_spend} {history.currency}, {len(history.past_tickets)} past tickets"
        )
    else:
        evidence.append("[customer] new contact: not in the CRM")
    evidence.append(f"[draft reply, {drafted.draft.language}]\n{drafted.draft.body}")
    return evidence


PROCESS = Process(
    title="Support triage",
    command="support-triage",
    domain="support_triage",
    workflow=SupportTriageWorkflow,
    input_model=Ticket,
    subject=lambda ticket: ticket.ticket_id,
    activities=support_activities,
    settings_section="support",
    settings_model=SupportSettings,
    offline_rules={CLASSIFY_TASK: offline_classify, DRAFT_TASK: offline_draft},
    examples=EXAMPLES / "support_triage",
)
