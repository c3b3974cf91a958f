"""The expense claim's activities: the limit check and the payout, once per claim."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.common import RetryPolicy

from activities.connectors.ledger import Ledger
from sluice.activity_policy import ActivityPolicy, with_policy
from sluice.framework import Services
from sluice.framework.receipts import ActionReceipt

QUICK = ActivityPolicy(start_to_close=timedelta(seconds=10), retry=RetryPolicy(maximum_attempts=3))


class ExpenseSettings(BaseModel):
    """``[expenses]``: claims up to this amount are paid without asking anybody."""

    approve_up_to: Decimal = Field(default=Decimal("50"), ge=0)


class ExpenseClaim(BaseModel):
    """What an employee claims."""

    claim_id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    employee: str = Field(min_length=1, max_length=80)
    amount: Decimal = Field(gt=0, max_digits=10, decimal_places=2)
    requested_by: str = Field(min_length=1, max_length=80)


class LimitCheck(BaseModel):
    within_limit: bool
    limit: Decimal


class Payout(BaseModel):
    claim_id: str
    amount: Decimal
    idempotency_key: str


class ExpenseActivities:
    def __init__(self, section: ExpenseSettings, ledger: Ledger) -> None:
        self.section = section
        self.ledger = ledger

    @activity.defn(name="check_expense_limit")
    @with_policy(QUICK)
    async def check_limit(self, claim: ExpenseClaim) -> LimitCheck:
        """Whether the claim is within the amount paid without approval."""
        limit = self.section.approve_up_to
        return LimitCheck(within_limit=claim.amount <= limit, limit=limit)

    @activity.defn(name="pay_expense")
    @with_policy(QUICK)
    async def pay(self, payout: Payout) -> ActionReceipt:
        """Pay the claim, once per idempotency key."""
        entry = await self.ledger.record(
            payout.idempotency_key, "pay", payout.claim_id, {"amount": str(payout.amount)}
        )
        return ActionReceipt.recorded(entry)


def expense_activities(section: ExpenseSettings, services: Services) -> list[Callable[..., Any]]:
    """The limit check and the payout against the expenses ledger."""
    ledger = Ledger(services.settings.data_dir / "expenses.sqlite3", "expense")
    expenses = ExpenseActivities(section, ledger)
    return [expenses.check_limit, expenses.pay]
