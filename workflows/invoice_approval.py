"""Invoice approval: pay a supplier's invoice once it checks out, with a person where the
desk's rules say so.

The checklist an accounts-payable clerk follows, automated:
  1. match the invoice with its purchase order and the goods received (three-way match,
     within the tolerances of ``[invoice]``),
  2. look for duplicates in the invoice register (and enter it, so a later copy finds it),
  3. check the bank account on the invoice against the vendor master,
  4. decide: automatically only for a clean match, no duplicate, the account on file and an
     amount at most the first threshold; above it a finance approver, above the second two
     different ones; a changed bank account always waits for a person (a classic fraud),
  5. instruct the payment, to the account on file (never to one only the invoice names),
  6. send the supplier the remittance notice (or, unpaid, a notice that it is held).
What could not be checked goes to a person, never to a payment. The register entry, the
payment and the notice are keyed by run and step: a retry or replay acts once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from temporalio import workflow

from activities.connectors.supplier_payments import (
    PaymentInstruction,
    PaymentReceipt,
    SupplierPaymentActivities,
)
from activities.invoice.checks import InvoiceCheckActivities
from activities.invoice.factory import invoice_activities
from activities.invoice.models import (
    SECTION,
    BankAccountResult,
    CheckResult,
    DuplicateCheck,
    Invoice,
    InvoiceApprovalOutcome,
    InvoiceSettings,
    PaymentAuthority,
    Review,
    masked_iban,
)
from sluice.framework import EXAMPLES, Process
from sluice.framework.approval import Decision, DecisionRequest
from sluice.framework.notifications import Notification, NotificationActivities
from sluice.framework.process import BusinessProcess, StepFailed
from sluice.search_attributes import RiskLevel

C = TypeVar("C", bound=CheckResult)


@workflow.defn(name="InvoiceApprovalWorkflow")
class InvoiceApprovalWorkflow(BusinessProcess):
    domain = "invoice_approval"

    @workflow.run
    async def run(self, invoice: Invoice) -> InvoiceApprovalOutcome:
        self.begin(
            subject=invoice.reference,
            started_by=invoice.requested_by,
            inputs={"invoice": invoice.sha256()},
        )
        policy = await self.approval_policy()
        workflow_id = workflow.info().workflow_id

        # 1. Match the invoice with its purchase order and the goods received.
        match = await self.check(
            "Three-way match",
            InvoiceCheckActivities.match_invoice,
            invoice,
            unchecked=CheckResult.not_done("three_way_match"),
        )

        # 2. Look for duplicates, entering the invoice in the register.
        duplicates = await self.check(
            "Check for duplicates",
            InvoiceCheckActivities.check_duplicate_invoice,
            DuplicateCheck(invoice=invoice, idempotency_key=f"{workflow_id}:register"),
            unchecked=CheckResult.not_done("duplicates"),
        )

        # 3. Check the bank account against the vendor master.
        account = await self.check(
            "Check bank account",
            InvoiceCheckActivities.check_supplier_bank_account,
            invoice,
            unchecked=BankAccountResult.not_done("bank_account"),
        )

        # 4. Decide: automatically only when nothing was found and the amount allows it.
        authority = await self.check(
            "Payment authority",
            InvoiceCheckActivities.invoice_payment_authority,
            invoice,
            unchecked=PaymentAuthority.not_done("payment_authority"),
        )
        review = review_for([match, duplicates, account], authority)
        self.set_risk(review.risk, "; ".join(review.evidence))
        if review.approvals_required == 0:
            decision = self.gate.not_required(
                "clean three-way match, no duplicate, account on file, amount within authority"
            )
        else:
            decision = await self.ask(
                DecisionRequest(
                    kind=review.kind,
                    question=f"Pay invoice {invoice.invoice_number} of {invoice.supplier_id}: "
                    f"{invoice.total} {invoice.currency}?",
                    risk=review.risk,
                    evidence=review.evidence,
                    approvals_required=review.approvals_required,
                    excluded_reviewers=[invoice.requested_by],
                    safe_path="the invoice is not paid",
                ),
                policy,
            )
        if not decision.approved:
            return await self.not_paid(invoice, review, decision, decision.reason or "rejected")
        if account.account_on_file is None:
            return await self.not_paid(invoice, review, decision, "no bank account on file to pay")

        # 5. Pay, to the account on file.
        receipt = await self.pay(invoice, account.account_on_file, decision)

        # 6. Tell the supplier. The money has moved: an undelivered notice is a follow-up.
        sent = await self.tell_supplier(invoice, "remittance", remittance_notice(invoice, receipt))
        return self.finish(
            f"invoice paid ({receipt.reference})",
            invoice,
            review,
            decision,
            action="paid",
            supplier_told=sent,
            receipt=receipt,
        )

    async def check(
        self,
        name: str,
        activity: Callable[..., Awaitable[C]],
        arg: Any,
        *,
        unchecked: C,
    ) -> C:
        """Run one check and record its rules and hits. A check that could not run is
        ``unchecked``: a high-severity hit for a person (fail closed), never a check passed."""
        try:
            return await self.step(name, activity, arg, recorded=self.record_check, handled=True)
        except StepFailed as failure:
            result = unchecked.model_copy(
                update={
                    "hits": [
                        hit.model_copy(update={"message": failure.message})
                        for hit in unchecked.hits
                    ]
                }
            )
        self.record_check(result)
        return result

    def record_check(self, result: CheckResult) -> None:
        """A check's ruleset and rules on record, and every hit with the ruleset's version."""
        self.record(
            "rule_check",
            f"{result.ruleset}: {result.check}: {len(result.rules_applied)} rules, "
            f"{len(result.hits)} hits",
            rules=result.rules_applied,
        )
        for hit in result.hits:
            self.record("rule_hit", hit.message, rule=hit.rule, ruleset=result.ruleset)

    async def pay(self, invoice: Invoice, iban: str, decision: Decision) -> PaymentReceipt:
        """Instruct the payment once; a hub that keeps failing fails the run, for AP to see."""

        def on_record(receipt: PaymentReceipt) -> None:
            self.record(
                "action",
                f"payment {receipt.reference}: {receipt.amount} {receipt.currency} to "
                f"{masked_iban(iban)}",
                reference=receipt.reference,
                duplicate=receipt.duplicate,
            )

        return await self.step(
            "Instruct payment",
            SupplierPaymentActivities.instruct_supplier_payment,
            PaymentInstruction(
                supplier_id=invoice.supplier_id,
                invoice_reference=invoice.reference,
                amount=invoice.total,
                currency=invoice.currency,
                iban=iban,
                idempotency_key=f"{workflow.info().workflow_id}:pay",
                authorised_by=decision.reviewers or ["sluice-auto-payment"],
            ),
            recorded=on_record,
        )

    async def tell_supplier(self, invoice: Invoice, notice: str, text: tuple[str, str]) -> bool:
        """One notice to the supplier, by supplier id (the notification service knows the
        address); ids and amounts only. False, and a follow-up on record, if undelivered."""
        try:
            sent = await self.step(
                f"Send {notice.replace('-', ' ')} notice",
                NotificationActivities.send_notification,
                Notification(
                    recipient=f"supplier:{invoice.supplier_id}",
                    channel="supplier-notice",
                    subject=text[0],
                    body=text[1],
                    idempotency_key=f"{workflow.info().workflow_id}:{notice}",
                ),
                handled=True,
            )
        except StepFailed:
            self.record("action", f"{notice} notice NOT sent: left for follow-up by AP")
            return False
        self.record("action", f"{notice} notice sent ({sent.reference})")
        return True

    async def not_paid(
        self, invoice: Invoice, review: Review, decision: Decision, reason: str
    ) -> InvoiceApprovalOutcome:
        """Pay nothing, and tell the supplier the invoice is held."""
        self.record("action", f"invoice not paid: {reason}")
        sent = await self.tell_supplier(invoice, "not-paid", held_notice(invoice))
        return self.finish(
            "invoice not paid",
            invoice,
            review,
            decision,
            action="not_paid",
            reason=reason,
            supplier_told=sent,
        )

    def finish(
        self,
        summary: str,
        invoice: Invoice,
        review: Review,
        decision: Decision,
        *,
        action: Literal["paid", "not_paid"],
        supplier_told: bool,
        receipt: PaymentReceipt | None = None,
        reason: str | None = None,
    ) -> InvoiceApprovalOutcome:
        """Complete the run with its outcome: the review and the decision, the payment if
        one was made, and whether the supplier was told."""
        outcome = InvoiceApprovalOutcome(
            invoice_reference=invoice.reference,
            action=action,
            decision=decision.outcome,
            decided_by=decision.reviewers,
            risk=review.risk,
            rule_hits=review.rules,
            approvals_required=review.approvals_required,
            payment_reference=receipt.reference if receipt else None,
            amount=receipt.amount if receipt else None,
            currency=receipt.currency if receipt else None,
            supplier_told=supplier_told,
            reason=reason,
        )
        self.complete(outcome, summary)
        return outcome


# --- the decision rule: replayed by every run, so a change here needs ``self.patched`` -----


def review_for(checks: list[CheckResult], authority: PaymentAuthority) -> Review:
    """Any hit needs at least one approver; the amount may need more. A hit of the bank-account
    check (a changed or missing account, or a check that could not run) is a bank-account
    change: high risk, and its own decision kind, so its allow-list can be narrower."""
    hits = [hit for check in [*checks, authority] for hit in check.hits]
    bank_hits = [hit for check in checks if check.check == "bank_account" for hit in check.hits]
    approvals = max(authority.approvals_required, 1 if hits else 0)
    if bank_hits or any(hit.severity == "high" for hit in hits):
        risk = RiskLevel.HIGH
    else:
        risk = RiskLevel.MEDIUM if approvals else RiskLevel.LOW
    evidence = [f"[{hit.rule}] {hit.message}" for hit in hits]
    evidence.append(
        f"[payment_authority] {authority.reason}: {authority.approvals_required} approver(s)"
    )
    return Review(
        kind="bank_account_change" if bank_hits else "payment_approval",
        risk=risk,
        approvals_required=approvals,
        evidence=evidence,
        rules=[hit.rule for hit in hits],
    )


def remittance_notice(invoice: Invoice, receipt: PaymentReceipt) -> tuple[str, str]:
    """Subject and text of the remittance notice: ids, dates and amounts only."""
    return (
        f"Remittance {receipt.reference}: invoice {invoice.invoice_number}",
        f"Invoice {invoice.invoice_number} of {invoice.invoice_date} (order "
        f"{invoice.po_reference}) is paid: {receipt.amount} {receipt.currency}, payment "
        f"{receipt.reference}.",
    )


def held_notice(invoice: Invoice) -> tuple[str, str]:
    """Subject and text of the notice that an invoice is not paid (never the reviewer's
    reason: those words are for the AP desk)."""
    return (
        f"Invoice {invoice.invoice_number}: not paid",
        f"Invoice {invoice.invoice_number} of {invoice.invoice_date} (order "
        f"{invoice.po_reference}) is held by accounts payable and not paid; we will contact "
        "you, or send a corrected invoice or a credit note.",
    )


PROCESS = Process(
    title="Invoice approval",
    command="invoice-approval",
    domain="invoice_approval",
    workflow=InvoiceApprovalWorkflow,
    input_model=Invoice,
    subject=lambda invoice: invoice.reference,
    activities=invoice_activities,
    settings_section=SECTION,
    settings_model=InvoiceSettings,
    examples=EXAMPLES / "invoice_approval",
)
