"""A process that asks twice in one run, so a test can show that a decision signed for the
first request does not answer the second. Kept in a module because workflow classes must be
importable."""

from __future__ import annotations

from temporalio import workflow

from sluice.framework.approval import DecisionRequest
from sluice.framework.process import BusinessProcess
from sluice.search_attributes import RiskLevel


@workflow.defn(name="TwoRequestsWorkflow")
class TwoRequestsWorkflow(BusinessProcess):
    domain = "cargo_release"

    @workflow.run
    async def run(self, requested_by: str) -> list[str]:
        self.begin(subject="two requests", started_by=requested_by, inputs={})
        policy = await self.approval_policy()
        outcomes = []
        for kind in ("customs_release", "customs_release_confirmation"):
            request = DecisionRequest(kind=kind, question=f"{kind}?", risk=RiskLevel.MEDIUM)
            outcomes.append((await self.ask(request, policy)).outcome)
        return outcomes
