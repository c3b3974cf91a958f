"""KYC review: onboard a customer once their identity and address check out.

The checklist a compliance analyst follows, automated:
  1. read the identity document and the proof of address (OCR for a scan, then the model),
  2. wait for any document that is missing or unreadable; at the deadline, close the
     application as incomplete,
  3. check the documents against the declaration with versioned rules (name, date of birth,
     expiry, address, age of the proof of address),
  4. screen the applicant against the sanctions and PEP list,
  5. decide: low risk on its own only where the policy allows it; medium risk by one
     compliance reviewer; high risk or any screening hit by two different reviewers, and
     never by the person who started the run,
  6. record the decision with the evidence it rests on,
  7. tell the onboarding desk that asked (application id and outcome, nothing personal).
The run's subject is the application id; the applicant's name never leaves the payloads.
"""

from __future__ import annotations

import asyncio
from typing import cast

from temporalio import workflow

from activities.connectors.sanctions import QueryEvidence, ScreeningResult
from activities.kyc.documents import (
    ADDRESS_TASK,
    IDENTITY_TASK,
    KycDocumentActivities,
    offline_address_proof,
    offline_identity,
)
from activities.kyc.factory import kyc_activities
from activities.kyc.models import (
    REQUIRED_DOCUMENTS,
    DocumentDelivery,
    DocumentText,
    ExtractedKycDocument,
    ExtractionRequest,
    KycApplication,
    KycCheckRequest,
    KycCheckResult,
    KycDocument,
    KycDocumentKind,
    KycOutcome,
    KycSettings,
    TranscriptionRequest,
)
from activities.kyc.rules import KycRuleActivities
from activities.screening import ScreeningActivities, ScreeningRequest
from sluice.framework import EXAMPLES, Process
from sluice.framework.approval import SYSTEM_REVIEWER, Decision, DecisionRequest
from sluice.framework.human_input import InputRequest
from sluice.framework.name_keys import normalise_name
from sluice.framework.notifications import Notification, NotificationActivities
from sluice.framework.policy import ApprovalPolicy
from sluice.framework.process import BusinessProcess, StepFailed
from sluice.search_attributes import RiskLevel

PROVIDE_DOCUMENT = "provide_document"

# Since 2026-12 the screening weighs the applicant's date of birth (a namesake born decades
# apart is not a hit; the same date confirms one). Runs that screened before the change
# replay with the request they sent: ``self.patched`` is False for them.
SCREENING_EVIDENCE_CHANGE = "screening-evidence-2026-12"


@workflow.defn(name="KycReviewWorkflow")
class KycReviewWorkflow(BusinessProcess):
    domain = "kyc_review"
    changes_before_local_steps = frozenset({SCREENING_EVIDENCE_CHANGE})
    # A missing or unreadable document, provided by a person.
    inputs = {PROVIDE_DOCUMENT: DocumentDelivery}

    @workflow.run
    async def run(self, application: KycApplication) -> KycOutcome:
        self.begin(
            subject=application.application_id,
            started_by=application.requested_by,
            inputs={doc.kind.value: doc.sha256() for doc in application.documents},
        )
        policy = await self.approval_policy()

        # 1-2. Read the documents; wait for any that is missing or unreadable.
        documents, outstanding = await self.collect_documents(application, policy)
        if outstanding:
            return await self.close_incomplete(application, outstanding)

        # 3. Check them against the declaration, as of the run's date.
        findings: KycCheckResult = await self.step(
            "Check documents",
            KycRuleActivities.check_documents,
            KycCheckRequest(
                applicant=application.applicant,
                documents=documents,
                as_of=workflow.now().date(),
            ),
            recorded=self.record_findings,
        )

        # 4. Screen the applicant.
        screening: ScreeningResult = await self.step(
            "Screen applicant",
            ScreeningActivities.screen_names,
            ScreeningRequest(
                names=names_to_screen(application, documents),
                kind="person",
                evidence=screening_evidence(application)
                if self.patched(SCREENING_EVIDENCE_CHANGE)
                else None,
            ),
            recorded=self.record_screening,
        )

        # 5. Decide: the riskier the application, the more people look at it.
        risk = assess_risk(findings, screening)
        evidence = evidence_for(findings, screening)
        self.set_risk(risk, "; ".join(evidence) or "documents match, no screening hit")
        decision = await self.reach_decision(application, risk, evidence, policy)

        # 6. Record the decision with the evidence it rests on.
        outcome = KycOutcome(
            application_id=application.application_id,
            action="approved" if decision.approved else "rejected",
            decision=decision.outcome,
            decided_by=decision.reviewers or [SYSTEM_REVIEWER],
            risk=risk,
            reason=decision.reason or decision.comment,
            rule_hits=[hit.rule for hit in findings.hits],
            screening_hits=[
                f"{hit.queried_name} ~ {hit.matched_name} ({hit.entry_id}, {hit.score:.2f})"
                for hit in screening.hits
            ],
            outstanding_documents=[],
        )
        self.record_decision(
            outcome,
            policy,
            evidence=evidence,
            documents={doc.kind.value: doc.document_sha256 for doc in documents},
            ruleset=findings.ruleset,
            rules_applied=findings.rules_applied,
            screening_list=screening.list_version,
        )

        # 7. Tell the desk that asked.
        await self.notify_desk(application, outcome)
        self.complete(outcome, f"application {outcome.action}")
        return outcome

    async def collect_documents(
        self, application: KycApplication, policy: ApprovalPolicy
    ) -> tuple[list[ExtractedKycDocument], list[str]]:
        """Every required document read, asking a person for any that is missing or
        unreadable until the policy's deadline; returns what was read and what is still
        outstanding (empty when the application is complete)."""
        read: dict[KycDocumentKind, ExtractedKycDocument] = {}
        problems = await self.read_documents(application, application.documents, read)
        given = {doc.kind for doc in application.documents}
        for kind in REQUIRED_DOCUMENTS:
            if kind not in given:
                problems[kind] = "not provided with the application"
        deadline = workflow.now() + policy.input_timeout
        while problems:
            provided = await self.wait_for_input(
                document_request(application.application_id, problems), deadline
            )
            if provided is None:
                return list(read.values()), [kind.value for kind in problems]
            deliveries = [cast(DocumentDelivery, item).as_document() for item in provided.values()]
            problems = await self.read_documents(application, deliveries, read)
        return [read[kind] for kind in REQUIRED_DOCUMENTS], []

    async def read_documents(
        self,
        application: KycApplication,
        documents: list[KycDocument],
        read: dict[KycDocumentKind, ExtractedKycDocument],
    ) -> dict[KycDocumentKind, str]:
        """Read ``documents`` at once into ``read``; return why each unreadable one was not."""
        results = await asyncio.gather(
            *(self.read_document(application.application_id, doc) for doc in documents)
        )
        problems: dict[KycDocumentKind, str] = {}
        for document, result in zip(documents, results, strict=True):
            if isinstance(result, str):
                problems[document.kind] = result
            else:
                read[document.kind] = result
        return problems

    async def read_document(
        self, application_id: str, document: KycDocument
    ) -> ExtractedKycDocument | str:
        """What was read from one document, or why it could not be read."""
        label = document.kind.value.replace("_", " ")
        try:
            if document.text is not None:
                text = DocumentText(
                    kind=document.kind,
                    text=document.text,
                    document_sha256=document.sha256(),
                    source="text",
                )
            else:
                text = await self.step(
                    f"Transcribe {label}",
                    KycDocumentActivities.transcribe_document,
                    TranscriptionRequest(application_id=application_id, document=document),
                    handled=True,
                )
            if text.ocr is not None:
                self.record_model(text.ocr, f"OCR of the {label}")
            extracted: ExtractedKycDocument = await self.step(
                f"Read {label}",
                KycDocumentActivities.extract_document,
                ExtractionRequest(
                    application_id=application_id,
                    kind=document.kind,
                    text=text.text,
                    document_sha256=text.document_sha256,
                ),
                recorded=lambda read: self.record_model(read.model, f"read the {label}"),
                handled=True,
            )
        except StepFailed as failure:
            return failure.message
        return extracted.unreadable_because() or extracted

    async def reach_decision(
        self,
        application: KycApplication,
        risk: RiskLevel,
        evidence: list[str],
        policy: ApprovalPolicy,
    ) -> Decision:
        if risk is RiskLevel.LOW and policy.auto_approve_low_risk:
            return self.gate.not_required(
                f"low risk, and policy {policy.version} approves low risk automatically"
            )
        return await self.ask(
            DecisionRequest(
                kind="kyc_approval",
                question=f"Approve KYC application {application.application_id}?",
                risk=risk,
                evidence=evidence or ["documents match the declaration; no screening hit"],
                # Four eyes: high risk (which every screening hit is) needs two reviewers.
                approvals_required=2 if risk is RiskLevel.HIGH else 1,
                excluded_reviewers=[application.requested_by],
                safe_path="the application is rejected",
            ),
            policy,
        )

    async def close_incomplete(
        self, application: KycApplication, outstanding: list[str]
    ) -> KycOutcome:
        outcome = KycOutcome(
            application_id=application.application_id,
            action="closed_incomplete",
            decision="incomplete",
            decided_by=[SYSTEM_REVIEWER],
            risk=None,
            reason=f"no usable {' or '.join(outstanding)} by the deadline",
            rule_hits=[],
            screening_hits=[],
            outstanding_documents=outstanding,
        )
        self.record_decision(outcome, None, evidence=[])
        await self.notify_desk(application, outcome)
        self.complete(outcome, "application closed as incomplete")
        return outcome

    async def notify_desk(self, application: KycApplication, outcome: KycOutcome) -> None:
        """The outcome goes to the desk that asked, once; the details stay in the audit."""
        workflow_id = workflow.info().workflow_id
        risk = f" (risk {outcome.risk.value})" if outcome.risk else ""
        await self.step(
            "Notify onboarding desk",
            NotificationActivities.send_notification,
            Notification(
                recipient=application.requested_by,
                channel="onboarding",
                subject=f"KYC application {application.application_id}: {outcome.action}",
                body=(
                    f"Application {application.application_id} was {outcome.action}{risk}. "
                    f"The decision record: starter.py audit {workflow_id}"
                ),
                idempotency_key=f"{workflow_id}:notify-outcome",
            ),
            recorded=lambda notice: self.record(
                "action", f"onboarding desk notified ({notice.reference})"
            ),
        )

    def record_findings(self, findings: KycCheckResult) -> None:
        self.record(
            "rule_check",
            f"{findings.ruleset}: {len(findings.rules_applied)} rules, {len(findings.hits)} hits",
            rules=findings.rules_applied,
            settings=findings.settings,
        )
        for hit in findings.hits:
            self.record(
                "rule_hit",
                hit.message,
                rule=hit.rule,
                severity=hit.severity,
                ruleset=findings.ruleset,
            )

    def record_screening(self, screening: ScreeningResult) -> None:
        self.record(
            "screening",
            f"applicant screened against {screening.list_source} ({screening.list_version}): "
            f"{len(screening.hits)} hits",
            threshold=screening.threshold,
            hits=[hit.model_dump(mode="json") for hit in screening.hits],
        )

    def record_decision(
        self,
        outcome: KycOutcome,
        policy: ApprovalPolicy | None,
        *,
        evidence: list[str],
        **grounds: object,
    ) -> None:
        """The decision record an auditor reads: what was decided, by whom, on what."""
        self.record(
            "decision_record",
            f"application {outcome.application_id} {outcome.action.replace('_', ' ')} "
            f"by {', '.join(outcome.decided_by)}",
            actor=SYSTEM_REVIEWER,
            outcome=outcome,
            evidence=evidence,
            policy=policy.version if policy else None,
            **grounds,
        )


def document_request(application_id: str, problems: dict[KycDocumentKind, str]) -> InputRequest:
    wanted = " and ".join(kind.value.replace("_", " ") for kind in problems)
    return InputRequest(
        kind=PROVIDE_DOCUMENT,
        question=f"Provide the {wanted} of application {application_id}",
        items=[kind.value for kind in problems],
        reasons=[f"{kind.value}: {why}" for kind, why in problems.items()],
        signal=PROVIDE_DOCUMENT,
        safe_path="the application is closed as incomplete",
        payload_hint=(
            '{"kind": "<document kind>", "document": {"text" | "path" | "data_url": "..."}, '
            '"provided_by": "<your name>"}'
        ),
    )


def names_to_screen(
    application: KycApplication, documents: list[ExtractedKycDocument]
) -> list[str]:
    """The declared name, and the name on the identity document when it differs."""
    names = [application.applicant.full_name]
    for document in documents:
        on_document = document.identity.full_name if document.identity else None
        if on_document and normalise_name(on_document) != normalise_name(names[0]):
            names.append(on_document)
    return names


def screening_evidence(application: KycApplication) -> QueryEvidence:
    """What the screening weighs besides the names: the declared date of birth. The declared
    nationality is free text ("British"), not the country code lists carry, so it is left out
    rather than counted against a match it cannot be compared with."""
    return QueryEvidence(birth_date=application.applicant.date_of_birth.isoformat())


def assess_risk(findings: KycCheckResult, screening: ScreeningResult) -> RiskLevel:
    """A screening hit, or documents naming someone else, is high risk; any other finding
    needs a reviewer (medium); nothing found is low."""
    if screening.hits or any(hit.severity == "high" for hit in findings.hits):
        return RiskLevel.HIGH
    if findings.hits:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def evidence_for(findings: KycCheckResult, screening: ScreeningResult) -> list[str]:
    evidence = [f"[{hit.rule}] {hit.message}" for hit in findings.hits]
    evidence += [
        f"[screening] '{hit.queried_name}' resembles listed '{hit.matched_name}' "
        f"(entry {hit.entry_id}, {', '.join(hit.topics) or 'listed'}; score {hit.score:.2f})"
        for hit in screening.hits
    ]
    return evidence


PROCESS = Process(
    title="KYC review",
    command="kyc-review",
    domain="kyc_review",
    workflow=KycReviewWorkflow,
    input_model=KycApplication,
    subject=lambda application: application.application_id,
    activities=kyc_activities,
    settings_section="kyc",
    settings_model=KycSettings,
    offline_rules={IDENTITY_TASK: offline_identity, ADDRESS_TASK: offline_address_proof},
    examples=EXAMPLES / "kyc_review",
    provided_input=DocumentDelivery,
)
