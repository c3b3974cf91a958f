"""Cargo release: let a shipment leave the terminal once its documents check out.

The checklist a customs desk follows, automated:
  1. read the key fields of every trade document (model),
  2. cross-check them with versioned rules (weights, packages, consignee, HS codes, values),
  3. screen every party against the sanctions list,
  4. release automatically only when nothing was found; otherwise a customs officer decides,
  5. release the cargo at the terminal, or put it on hold,
  6. tell the consignee (and the notify party).
The release is idempotent (keyed by run and step): a retry or replay never releases twice.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from temporalio import workflow

from activities.cargo.extraction import TASK as EXTRACT_TASK
from activities.cargo.extraction import CargoDocumentActivities, offline_extract
from activities.cargo.factory import cargo_activities
from activities.cargo.models import (
    CargoReleaseOutcome,
    CargoSettings,
    CrossCheckRequest,
    CrossCheckResult,
    ExtractedDocument,
    ExtractionRequest,
    Shipment,
    ShipmentDocument,
)
from activities.cargo.rules import CargoRuleActivities
from activities.connectors.sanctions import ScreeningResult
from activities.connectors.terminal import TerminalActivities, TerminalOrder, TerminalReceipt
from activities.screening import ScreeningActivities, ScreeningRequest
from sluice.framework import EXAMPLES, Process
from sluice.framework.approval import Decision, DecisionRequest
from sluice.framework.notifications import Notification, NotificationActivities
from sluice.framework.process import BusinessProcess, StepFailed
from sluice.search_attributes import RiskLevel

# Since 2026-11 the notify party (often the customs broker) is told too. Runs started before
# the change replay without the step: ``self.patched`` is False for them. Once none of them
# is left, remove the check (``BusinessProcess.patched`` says how).
NOTIFY_PARTY_CHANGE = "notify-party-2026-11"


@workflow.defn(name="CargoReleaseWorkflow")
class CargoReleaseWorkflow(BusinessProcess):
    domain = "cargo_release"
    changes_before_local_steps = frozenset({NOTIFY_PARTY_CHANGE})

    @workflow.run
    async def run(self, shipment: Shipment) -> CargoReleaseOutcome:
        self.begin(
            subject=shipment.shipment_id,
            started_by=shipment.requested_by,
            inputs={doc.kind.value: doc.sha256() for doc in shipment.documents},
        )
        policy = await self.approval_policy()

        # 1. Read every document.
        extracted, unreadable = await self.read_documents(shipment)

        # 2. Cross-check them.
        findings: CrossCheckResult = await self.step(
            "Cross-check documents",
            CargoRuleActivities.cross_check_documents,
            CrossCheckRequest(shipment=shipment, extracted=extracted),
            recorded=self.record_findings,
        )

        # 3. Screen the parties.
        screening: ScreeningResult = await self.step(
            "Screen parties",
            ScreeningActivities.screen_names,
            ScreeningRequest(names=shipment.parties(), kind="organization"),
            recorded=self.record_screening,
        )

        # 4. Decide: automatically only when there is nothing to look at.
        risk = assess_risk(findings, screening, unreadable)
        evidence = evidence_for(findings, screening, unreadable)
        self.set_risk(risk, "; ".join(evidence) or "documents consistent, no screening hit")
        if risk is RiskLevel.LOW:
            decision = self.gate.not_required("documents consistent and no screening hit")
        else:
            decision = await self.ask(
                DecisionRequest(
                    kind="customs_release",
                    question=f"Release shipment {shipment.shipment_id} to the consignee?",
                    risk=risk,
                    evidence=evidence,
                    model_rationale=None,
                    excluded_reviewers=[shipment.requested_by],
                    safe_path="the cargo stays on hold",
                ),
                policy,
            )

        # 5. Act at the terminal.
        receipt = await self.instruct_terminal(shipment, decision)
        action: Literal["released", "held"] = "released" if receipt.action == "release" else "held"
        self.record(
            "action",
            f"cargo {action} at the terminal ({receipt.reference})",
            reference=receipt.reference,
            duplicate=receipt.duplicate,
        )

        # 6. Tell the consignee, and the notify party when there is one. The cargo has moved
        #    already: a notice that cannot be delivered is left for follow-up, not a failure.
        undelivered = []
        if not await self.notify(
            "consignee", shipment.consignee_contact, shipment, action, decision
        ):
            undelivered.append("consignee")
        if shipment.notify_party and self.patched(NOTIFY_PARTY_CHANGE):
            if not await self.notify(
                "notify party", shipment.notify_party, shipment, action, decision
            ):
                undelivered.append("notify party")

        outcome = CargoReleaseOutcome(
            shipment_id=shipment.shipment_id,
            action=action,
            terminal_reference=receipt.reference,
            decision=decision.outcome,
            decided_by=decision.reviewers,
            risk=risk,
            rule_hits=[hit.rule for hit in findings.hits],
            screening_hits=[f"{h.queried_name} ~ {h.matched_name}" for h in screening.hits],
            unreadable_documents=unreadable,
            undelivered_notices=undelivered,
        )
        self.complete(outcome, f"cargo {action}")
        return outcome

    async def notify(
        self,
        role: str,
        recipient: str,
        shipment: Shipment,
        action: Literal["released", "held"],
        decision: Decision,
    ) -> bool:
        """Send one notice; False (and a follow-up on record) if it could not be delivered."""
        try:
            await self.step(
                f"Notify {role}",
                NotificationActivities.send_notification,
                Notification(
                    recipient=recipient,
                    subject=f"Shipment {shipment.shipment_id}: cargo {action}",
                    body=consignee_message(shipment, action, decision),
                    idempotency_key=(
                        f"{workflow.info().workflow_id}:notify-{role.replace(' ', '-')}"
                    ),
                ),
                recorded=lambda notice: self.record(
                    "action", f"{role} notified ({notice.reference})"
                ),
                handled=True,
            )
        except StepFailed:
            self.record("action", f"{role} NOT notified: left for follow-up by the desk")
            return False
        return True

    async def read_documents(self, shipment: Shipment) -> tuple[list[ExtractedDocument], list[str]]:
        """Read all documents at once; one the model cannot read goes to the officer."""

        async def read(document: ShipmentDocument) -> ExtractedDocument | None:
            try:
                extracted: ExtractedDocument = await self.step(
                    f"Read {document.kind.value.replace('_', ' ')}",
                    CargoDocumentActivities.extract_document,
                    ExtractionRequest(shipment_id=shipment.shipment_id, document=document),
                    recorded=lambda read: self.record_model(
                        read.model, f"read {document.kind.value}"
                    ),
                    handled=True,
                )
            except StepFailed:
                return None
            return extracted

        results = await asyncio.gather(*(read(doc) for doc in shipment.documents))
        extracted = [result for result in results if result is not None]
        unreadable = [
            doc.kind.value
            for doc, result in zip(shipment.documents, results, strict=True)
            if result is None
        ]
        return extracted, unreadable

    async def instruct_terminal(self, shipment: Shipment, decision: Decision) -> TerminalReceipt:
        run_id = workflow.info().workflow_id
        if decision.approved:
            order = TerminalOrder(
                shipment_id=shipment.shipment_id,
                action="release",
                idempotency_key=f"{run_id}:release",
                reason=decision.reason or decision.comment or "approved",
                authorised_by=decision.reviewers or ["sluice-auto-release"],
            )
            return await self.step("Release cargo", TerminalActivities.release_cargo, order)
        order = TerminalOrder(
            shipment_id=shipment.shipment_id,
            action="hold",
            idempotency_key=f"{run_id}:hold",
            reason=decision.reason or "rejected",
            authorised_by=decision.reviewers,
        )
        return await self.step("Put cargo on hold", TerminalActivities.hold_cargo, order)

    def record_findings(self, findings: CrossCheckResult) -> None:
        self.record(
            "rule_check",
            f"{findings.ruleset}: {len(findings.rules_applied)} rules, {len(findings.hits)} hits",
            rules=findings.rules_applied,
        )
        for hit in findings.hits:
            self.record("rule_hit", hit.message, rule=hit.rule, ruleset=findings.ruleset)

    def record_screening(self, screening: ScreeningResult) -> None:
        self.record(
            "screening",
            f"{len(screening.screened_names)} parties screened against {screening.list_version}: "
            f"{len(screening.hits)} hits",
            hits=[hit.model_dump(mode="json") for hit in screening.hits],
        )


def assess_risk(
    findings: CrossCheckResult, screening: ScreeningResult, unreadable: list[str]
) -> RiskLevel:
    """A sanctions hit is high risk; any other finding needs an officer (medium)."""
    if screening.hits or any(hit.severity == "high" for hit in findings.hits):
        return RiskLevel.HIGH
    if findings.hits or unreadable:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def evidence_for(
    findings: CrossCheckResult, screening: ScreeningResult, unreadable: list[str]
) -> list[str]:
    evidence = [f"[{hit.rule}] {hit.message}" for hit in findings.hits]
    evidence += [
        f"[screening] '{hit.queried_name}' resembles listed '{hit.matched_name}' "
        f"({', '.join(hit.topics)}; score {hit.score:.2f})"
        for hit in screening.hits
    ]
    evidence += [f"[unreadable] the model could not read the {kind}" for kind in unreadable]
    return evidence


def consignee_message(
    shipment: Shipment, action: Literal["released", "held"], decision: Decision
) -> str:
    if action == "released":
        return (
            f"Shipment {shipment.shipment_id} has been released for collection at "
            f"{shipment.port_of_discharge}."
        )
    return (
        f"Shipment {shipment.shipment_id} is on hold at {shipment.port_of_discharge} pending "
        f"a customs review. Reason: {decision.reason or 'review required'}."
    )


PROCESS = Process(
    title="Cargo release",
    command="cargo-release",
    domain="cargo_release",
    workflow=CargoReleaseWorkflow,
    input_model=Shipment,
    subject=lambda shipment: shipment.shipment_id,
    activities=cargo_activities,
    settings_section="cargo",
    settings_model=CargoSettings,
    offline_rules={EXTRACT_TASK: offline_extract},
    examples=EXAMPLES / "cargo_release",
)
