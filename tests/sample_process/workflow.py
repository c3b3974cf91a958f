"""Expense claim: pay a claim, with a person's approval above the limit.

1. check the amount against the limit,
2. above it, a manager decides,
3. pay the claim (or not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from temporalio import workflow

from sluice.framework import Process
from sluice.framework.approval import DecisionRequest
from sluice.framework.process import BusinessProcess
from sluice.search_attributes import RiskLevel
from tests.sample_process.activities import (
    ExpenseActivities,
    ExpenseClaim,
    ExpenseSettings,
    LimitCheck,
    Payout,
    expense_activities,
)


class ExpenseOutcome(BaseModel):
    claim_id: str
    action: Literal["paid", "refused"]
    decision: str


@workflow.defn(name="ExpenseClaimWorkflow")
class ExpenseClaimWorkflow(BusinessProcess):
    domain = "expense_claim"

    @workflow.run
    async def run(self, claim: ExpenseClaim) -> ExpenseOutcome:
        self.begin(subject=claim.claim_id, started_by=claim.requested_by, inputs={})
        policy = await self.approval_policy()

        # 1. Check the amount.
        check: LimitCheck = await self.step("Check the limit", ExpenseActivities.check_limit, claim)

        # 2. Above the limit, a manager decides.
        if check.within_limit:
            self.set_risk(RiskLevel.LOW, f"within the limit of {check.limit}")
            decision = self.gate.not_required(f"within the limit of {check.limit}")
        else:
            self.set_risk(RiskLevel.MEDIUM, f"above the limit of {check.limit}")
            decision = await self.ask(
                DecisionRequest(
                    kind="expense_approval",
                    question=f"Pay {claim.amount} to {claim.employee}?",
                    risk=RiskLevel.MEDIUM,
                    excluded_reviewers=[claim.requested_by],
                    safe_path="the claim is not paid",
                ),
                policy,
            )

        # 3. Pay, or not.
        action: Literal["paid", "refused"] = "refused"
        if decision.approved:
            receipt = await self.step(
                "Pay the claim",
                ExpenseActivities.pay,
                Payout(
                    claim_id=claim.claim_id,
                    amount=claim.amount,
                    idempotency_key=f"{workflow.info().workflow_id}:pay",
                ),
            )
            action = "paid"
            self.record("action", f"claim paid ({receipt.reference})")
        outcome = ExpenseOutcome(claim_id=claim.claim_id, action=action, decision=decision.outcome)
        self.complete(outcome, f"claim {action}")
        return outcome


PROCESS = Process(
    title="Expense claim",
    command="expense-claim",
    domain="expense_claim",
    workflow=ExpenseClaimWorkflow,
    input_model=ExpenseClaim,
    subject=lambda claim: claim.claim_id,
    activities=expense_activities,
    settings_section="expenses",
    settings_model=ExpenseSettings,
    examples=Path(__file__).parent / "examples",
)
