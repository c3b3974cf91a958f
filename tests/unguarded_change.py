"""The notify-party change made WITHOUT ``workflow.patched``: what the replay test must
catch. Kept in a module (not the test file) because workflow classes must be importable."""

from __future__ import annotations

from typing import Literal

from temporalio import workflow

from sluice.framework.approval import Decision
from workflows.cargo_release import CargoReleaseOutcome, CargoReleaseWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.cargo.models import Shipment


@workflow.defn(name="CargoReleaseWorkflow")
class UnguardedCargoRelease(CargoReleaseWorkflow):
    @workflow.run
    async def run(self, shipment: Shipment) -> CargoReleaseOutcome:
        return await super().run(shipment)

    async def notify(
        self,
        role: str,
        recipient: str,
        shipment: Shipment,
        action: Literal["released", "held"],
        decision: Decision,
    ) -> bool:
        delivered = await super().notify(role, recipient, shipment, action, decision)
        if role == "consignee" and shipment.notify_party:
            # The same new step, but unconditional: old runs did not have it.
            await super().notify("notify party", shipment.notify_party, shipment, action, decision)
        return delivered
