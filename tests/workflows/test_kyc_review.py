"""KYC review against real Temporal servers: the checklist a compliance desk follows.

Applications are built here with dates relative to today, because the rules judge them as of
the run's date (a proof of address ages; an example file's bill would, too)."""

from __future__ import annotations

import asyncio
import json
import uuid
from base64 import b64encode
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.kyc.models import KycApplication
from sluice import search_attributes as sa
from sluice.config import Settings
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from sluice.telemetry import SpanRecord, Telemetry
from sluice.timeline import spans_of_run
from tests import support as run_driver
from tests.conftest import EXAMPLES, SESSION_SPANS, approval_settings
from tests.pdfs import scanned_pdf
from tests.stubs.mistral_api import OCR_PATH, MistralStub
from tests.support import (
    finished,
    listed_with,
    signed_signal,
    start_run,
    starter,
    status_until,
    until_decision_needed,
)
from workflows import kyc_review
from workflows.kyc_review import KycReviewWorkflow

TODAY = datetime.now(UTC).date()
REVIEWERS = ["alice", "bob", "dave"]


def passport(
    *,
    given: str = "Amélie Claire",
    surname: str = "DURAND",
    born: date = date(1991, 3, 14),
    expires: date = TODAY + timedelta(days=1500),
) -> str:
    return "\n".join(
        [
            "RÉPUBLIQUE FRANÇAISE — PASSEPORT / PASSPORT",
            "Passport No: 21FD83145",
            f"Surname: {surname}",
            f"Given names: {given}",
            "Nationality: French",
            f"Date of birth: {born.isoformat()}",
            f"Date of expiry: {expires.isoformat()}",
        ]
    )


def electricity_bill(
    *,
    holder: str = "Mme Amélie Durand",
    address: str = "12 rue des Tanneurs, 69003 LYON, FRANCE",
    issued: date = TODAY - timedelta(days=12),
) -> str:
    return "\n".join(
        [
            "LUMÉA ÉNERGIE SAS — ELECTRICITY BILL",
            f"Customer name: {holder}",
            f"Supply address: {address}",
            f"Bill date: {issued.isoformat()}",
        ]
    )


def application(
    *,
    identity: dict[str, Any] | None = None,
    proof: dict[str, Any] | None = None,
    requested_by: str = "onboarding-portal",
    **applicant: Any,
) -> KycApplication:
    """Amélie Durand's application; ``identity``/``proof`` replace a document ({} omits it)."""
    documents = []
    for kind, given, default in (
        ("identity_document", identity, {"text": passport()}),
        ("proof_of_address", proof, {"text": electricity_bill()}),
    ):
        source = default if given is None else given
        if source:
            documents.append({"kind": kind, **source})
    return KycApplication.model_validate(
        {
            "application_id": f"KYC-T-{uuid.uuid4().hex[:8]}",
            "requested_by": requested_by,
            "applicant": {
                "full_name": "Amélie Durand",
                "date_of_birth": "1991-03-14",
                "nationality": "French",
                "address": "12 Rue des Tanneurs, 69003 Lyon, France",
                **applicant,
            },
            "documents": documents,
        }
    )


@pytest.fixture
def kyc(settings: Settings) -> Settings:
    """Compliance reviewers alice, bob and dave; documents from the examples' intake folder."""
    settings.approvals["kyc_review"] = approval_settings(reviewers={"kyc_approval": REVIEWERS})
    return settings


async def start(client: Client, settings: Settings, app: KycApplication) -> WorkflowHandle:
    return await start_run(
        client, settings, kyc_review.PROCESS, app, workflow_id=f"kyc-{app.application_id}"
    )


async def until_awaiting(handle: WorkflowHandle) -> RunStatus:
    return await status_until(handle, lambda s: s.awaiting_input is not None, what="a document")


async def decide(
    handle: WorkflowHandle, settings: Settings, verdict: str, reviewer: str, **more: Any
) -> str:
    """What the reviewer is told: the run's message, or the reason it refused."""
    try:
        receipt = await run_driver.decide(handle, settings, verdict, reviewer, **more)
    except WorkflowUpdateFailedError as err:
        return f"refused: {getattr(err.cause, 'message', err.cause)}"
    return receipt.message


async def audit(handle: WorkflowHandle) -> AuditTrail:
    trail: AuditTrail = await handle.query("audit", result_type=AuditTrail)
    return trail


def provided(kind: str, provided_by: str = "onboarding-desk", **document: str) -> dict[str, Any]:
    return {"kind": kind, "provided_by": provided_by, "document": document}


async def test_low_risk_is_approved_automatically_when_the_policy_allows_it(
    client: Client, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    kyc.approvals["kyc_review"].auto_approve_low_risk = True
    async with make_worker(client):
        handle = await start(client, kyc, application())
        outcome = await finished(handle)
        trail = await audit(handle)

    assert outcome.action == "approved" and outcome.decision == "not_required"
    assert outcome.risk == "low" and outcome.rule_hits == [] and outcome.screening_hits == []
    (record,) = trail.of_kind("decision_record")
    assert record.detail["outcome"]["action"] == "approved"
    assert record.detail["ruleset"].startswith("kyc-checks/")
    assert set(record.detail["documents"]) == {"identity_document", "proof_of_address"}
    (checks,) = trail.of_kind("rule_check")
    assert "proof_of_address_too_old" in checks.detail["rules"]


async def test_low_risk_waits_for_one_reviewer_when_the_policy_does_not_allow_it(
    client: Client, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, kyc, application())
        status = await until_decision_needed(handle)
        assert status.pending_decision is not None
        assert status.pending_decision.request.risk == "low"
        assert status.pending_decision.request.approvals_required == 1
        assert await decide(handle, kyc, "approve", "alice") == "approved"
        outcome = await finished(handle)
    assert outcome.action == "approved" and outcome.decided_by == ["alice"]


async def test_expired_passport_is_medium_risk_and_one_reviewer_decides(
    client: Client, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    kyc.approvals["kyc_review"].auto_approve_low_risk = True
    expired = passport(expires=TODAY - timedelta(days=40))
    async with make_worker(client):
        handle = await start(client, kyc, application(identity={"text": expired}))
        status = await until_decision_needed(handle)
        assert status.risk_level == "medium"
        assert status.pending_decision is not None
        request = status.pending_decision.request
        assert request.approvals_required == 1
        assert any(e.startswith("[identity_document_expired]") for e in request.evidence)
        assert (
            await decide(handle, kyc, "approve", "bob", comment="renewal receipt seen")
            == "approved"
        )
        outcome = await finished(handle)
        trail = await audit(handle)
    assert outcome.action == "approved" and outcome.rule_hits == ["identity_document_expired"]
    (hit,) = trail.of_kind("rule_hit")
    assert hit.detail["rule"] == "identity_document_expired"
    assert hit.detail["ruleset"].startswith("kyc-checks/")


async def test_mismatched_date_of_birth_needs_two_different_reviewers_not_the_requester(
    client: Client, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    app = application(identity={"text": passport(born=date(1991, 3, 4))}, requested_by="dave")
    # No workflow cache: every activation replays the history, so replay is checked too.
    async with make_worker(client, max_cached_workflows=0):
        handle = await start(client, kyc, app)
        status = await until_decision_needed(handle)
        assert status.risk_level == "high"
        assert status.pending_decision is not None
        assert status.pending_decision.request.approvals_required == 2
        assert "[date_of_birth_mismatch]" in " ".join(status.pending_decision.request.evidence)

        assert await decide(handle, kyc, "approve", "dave") == (
            "refused: reviewer 'dave' started this run and cannot decide it"
        )
        assert await decide(handle, kyc, "approve", "alice") == (
            "approval recorded; 1 more reviewer(s) needed"
        )
        assert await decide(handle, kyc, "approve", "alice") == (
            "refused: reviewer 'alice' has already approved; 2 different reviewers are required"
        )
        # The plain signals (what the temporal CLI sends) are refused and recorded too.
        await handle.signal("approve", await signed_signal(handle, kyc, "alice"))
        await handle.signal("approve", await signed_signal(handle, kyc, "dave"))
        assert await decide(handle, kyc, "approve", "bob") == "approved"
        outcome = await finished(handle)
        trail = await audit(handle)

    assert outcome.action == "approved" and outcome.decided_by == ["alice", "bob"]
    refusals = [(e.actor, e.summary) for e in trail.of_kind("decision_refused")]
    assert ("alice", "approve refused: reviewer 'alice' has already approved; "
            "2 different reviewers are required") in refusals  # fmt: skip
    assert ("dave", "approve refused: reviewer 'dave' started this run and cannot "
            "decide it") in refusals  # fmt: skip


async def test_fuzzy_sanctions_hit_always_goes_to_two_humans(
    client: Client, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    kyc.approvals["kyc_review"].auto_approve_low_risk = True
    app = application(
        identity={"text": passport(given="JON", surname="SMYTH", born=date(1968, 3, 14))},
        proof={"text": electricity_bill(holder="Mr Jon Smyth")},
        full_name="Jon Smyth",
        date_of_birth="1968-03-14",
    )
    async with make_worker(client):
        handle = await start(client, kyc, app)
        status = await until_decision_needed(handle)
        assert status.pending_decision is not None
        request = status.pending_decision.request
        assert status.risk_level == "high" and request.approvals_required == 2
        (screening,) = [e for e in request.evidence if e.startswith("[screening]")]
        assert "'Jon Smyth' resembles listed 'John Smith'" in screening
        # 0.95 for the names, and the same date of birth as the listed John Smith.
        assert "entry sample-p-0001" in screening and "score 1.00" in screening
        assert await decide(handle, kyc, "approve", "alice") == (
            "approval recorded; 1 more reviewer(s) needed"
        )
        assert await decide(handle, kyc, "reject", "bob", reason="confirmed match") == "rejected"
        outcome = await finished(handle)
    assert outcome.action == "rejected" and outcome.reason == "confirmed match"
    assert outcome.screening_hits == ["Jon Smyth ~ John Smith (sample-p-0001, 1.00)"]


async def test_rejection_needs_a_reason_and_the_record_keeps_it(
    client: Client, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    moved = electricity_bill(address="7 Cours Gambetta, 69007 Lyon, France")
    async with make_worker(client):
        handle = await start(client, kyc, application(proof={"text": moved}))
        status = await until_decision_needed(handle)
        assert status.risk_level == "medium"
        assert await decide(handle, kyc, "reject", "alice") == "refused: a rejection needs a reason"
        reason = "address on the bill is not the declared one"
        assert await decide(handle, kyc, "reject", "alice", reason=reason) == "rejected"
        outcome = await finished(handle)
        trail = await audit(handle)
    assert outcome.action == "rejected" and outcome.rule_hits == ["address_mismatch"]
    (record,) = trail.of_kind("decision_record")
    assert record.detail["outcome"]["reason"] == reason
    assert any("[address_mismatch]" in item for item in record.detail["evidence"])


async def test_missing_proof_of_address_waits_then_continues_when_provided_by_signal(
    client: Client, kyc: Settings, make_worker: Callable[..., Any], telemetry: Telemetry
) -> None:
    kyc.approvals["kyc_review"].auto_approve_low_risk = True
    client = telemetry.traced(client)
    # No workflow cache: every activation replays the history, so replay is checked too.
    async with make_worker(client, max_cached_workflows=0):
        handle = await start(client, kyc, application(proof={}))
        status = await until_awaiting(handle)
        assert status.awaiting_input is not None
        assert status.awaiting_input.outstanding == ["proof_of_address"]
        assert "not provided with the application" in " ".join(
            status.awaiting_input.request.reasons
        )
        attributes = await listed_with(handle, sa.APPROVAL_STATUS, "Pending")
        assert attributes.get(sa.DECISION_NEEDED) == "provide_document"

        await handle.signal("provide_document", provided("identity_document", text=passport()))
        await handle.signal("provide_document", {"kind": "proof_of_address"})
        await handle.signal(
            "provide_document", provided("proof_of_address", text=electricity_bill())
        )
        outcome = await finished(handle)
        trail = await audit(handle)
        attributes = (await handle.describe()).typed_search_attributes

    assert outcome.action == "approved" and outcome.risk == "low"
    # No longer listed as pending: nothing is awaited and no decision was needed.
    assert attributes.get(sa.APPROVAL_STATUS) == "NotRequired"
    assert attributes.get(sa.DECISION_NEEDED) is None
    refused = [e.summary for e in trail.of_kind("input_refused")]
    assert refused[0] == (
        "identity_document refused: this run waits for proof_of_address, not identity_document"
    )
    assert refused[1].startswith("malformed 'provide_document' signal ignored: ")
    assert "provided_by" in refused[1]
    (received,) = trail.of_kind("input_received")
    assert received.actor == "onboarding-desk"
    # The wait is one span in the run's trace, however often the run was replayed.
    spans = spans_of_run(map(SpanRecord.of, SESSION_SPANS.get_finished_spans()), handle.id)
    (wait,) = [s for s in spans if s.name == "Wait for input: proof_of_address"]
    assert wait.attributes["sluice.input.outcome"] == "received"
    assert wait.end_ns - wait.start_ns > 0


async def test_missing_document_provided_with_the_cli_end_to_end(
    dev_env: WorkflowEnvironment,
    kyc: Settings,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    client = dev_env.client
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(provided("utility_bill", text="x")))
    refused = await starter(dev_env, kyc, "provide", "any-run", str(bad))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert str(bad) in refused.stderr and "kind" in refused.stderr

    delivery = tmp_path / "proof.json"
    delivery.write_text(json.dumps(provided("proof_of_address", text=electricity_bill())))
    async with make_worker(client):
        handle = await start(client, kyc, application(proof={}))
        await until_awaiting(handle)

        async def listed() -> bool:
            pending = await starter(dev_env, kyc, "pending")
            return handle.id in pending.stdout and "provide_document" in pending.stdout

        for _ in range(60):
            if await listed():
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("starter.py pending never listed the waiting run")
        shown = await starter(dev_env, kyc, "status", handle.id)
        assert "Waiting for input: provide_document (proof_of_address)" in shown.stdout
        assert f"starter.py provide {handle.id} FILE.json" in shown.stdout

        wrong = tmp_path / "identity.json"
        wrong.write_text(json.dumps(provided("identity_document", text=passport())))
        mismatch = await starter(dev_env, kyc, "provide", handle.id, str(wrong))
        assert mismatch.returncode == 2
        assert mismatch.stderr == (
            f"error: {handle.id} waits for proof_of_address, not identity_document\n"
        )

        sent = await starter(dev_env, kyc, "provide", handle.id, str(delivery))
        assert sent.returncode == 0, sent.stderr
        assert f"{handle.id}: proof_of_address sent by onboarding-desk" in sent.stdout
        await until_decision_needed(handle)
        assert await decide(handle, kyc, "approve", "alice") == "approved"
        outcome = await finished(handle)
    assert outcome.action == "approved"


async def test_scanned_passport_goes_to_a_person_with_the_offline_provider(
    client: Client, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    scan = {"data_url": f"data:application/pdf;base64,{b64encode(scanned_pdf()).decode()}"}
    async with make_worker(client):
        handle = await start(client, kyc, application(identity=scan))
        status = await until_awaiting(handle)
        assert status.awaiting_input is not None
        assert status.awaiting_input.outstanding == ["identity_document"]
        (reason,) = status.awaiting_input.request.reasons
        assert "offline provider cannot read application/pdf documents" in reason

        await handle.signal("provide_document", provided("identity_document", text=passport()))
        await until_decision_needed(handle)
        assert await decide(handle, kyc, "approve", "alice") == "approved"
        outcome = await finished(handle)
        trail = await audit(handle)
    assert outcome.action == "approved"
    failures = [e.detail.get("error_type") for e in trail.of_kind("failure")]
    assert failures == ["DocumentNeedsHuman"]


async def test_document_outside_the_intake_folder_is_not_read(
    client: Client, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, kyc, application(identity={"path": "../../../sluice.toml"}))
        status = await until_awaiting(handle)
        await handle.terminate("test over")
    assert status.awaiting_input is not None
    (reason,) = status.awaiting_input.request.reasons
    assert "'..' is refused in a document path" in reason


async def test_missing_document_deadline_closes_the_application_as_incomplete(
    time_env: WorkflowEnvironment, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    kyc.approvals["kyc_review"].input_timeout_minutes = 3 * 24 * 60
    client = time_env.client
    async with make_worker(client):
        handle = await start(client, kyc, application(proof={}))
        await until_awaiting(handle)
        # The time-skipping server takes the upserts: the run is listed as pending. (It
        # cannot describe a run after a datetime attribute is unset, so the clearing of the
        # attributes is checked on the dev server, in the test above.)
        attributes = await listed_with(handle, sa.APPROVAL_STATUS, "Pending")
        assert attributes.get(sa.DECISION_NEEDED) == "provide_document"
        outcome = await handle.result()
        trail = await audit(handle)

    assert outcome.action == "closed_incomplete"
    assert outcome.outstanding_documents == ["proof_of_address"]
    (timed_out,) = trail.of_kind("input_timed_out")
    assert "the application is closed as incomplete" in timed_out.summary
    (requested,) = trail.of_kind("input_requested")
    waited = timed_out.at - requested.at
    assert timedelta(days=3) <= waited < timedelta(days=3, minutes=1)
    (record,) = trail.of_kind("decision_record")
    assert record.detail["outcome"]["action"] == "closed_incomplete"


@pytest.fixture
def stub() -> Iterator[MistralStub]:
    with MistralStub() as running:
        yield running


async def test_ocr_provider_error_is_retried_and_the_run_completes(
    client: Client, kyc: Settings, make_worker: Callable[..., Any], stub: MistralStub
) -> None:
    kyc.model.provider = "mistral"
    kyc.model.mistral_api_key = "test"
    kyc.model.mistral_server_url = stub.url
    kyc.approvals["kyc_review"].auto_approve_low_risk = True
    stub.enqueue_error(503, endpoint="ocr")
    stub.enqueue_ocr(["# REPUBLIC OF GHANA\nPASSPORT\nSurname: ASANTE\nGiven names: Kwabena"])

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        if "identity documents" in request["messages"][0]["content"]:
            return {
                "document_type": "passport",
                "document_number": "G4417208",
                "full_name": "Kwabena Osei Asante",
                "date_of_birth": "1988-09-02",
                "nationality": "Ghanaian",
                "expiry_date": (TODAY + timedelta(days=1900)).isoformat(),
            }
        return {
            "document_type": "council tax bill",
            "issuer": "London Borough of Lambeth",
            "holder_name": "Mr Kwabena Asante",
            "address": "31 Larkhall Rise, London SW4 6HU",
            "issue_date": (TODAY - timedelta(days=11)).isoformat(),
        }

    stub.default_chat = answer
    example = json.loads((EXAMPLES / "kyc_review" / "scanned_identity.json").read_text())
    # A scan with no text layer (the shipped one has one, and is read without OCR).
    example["documents"][0] = {
        "kind": "identity_document",
        "data_url": f"data:application/pdf;base64,{b64encode(scanned_pdf()).decode()}",
    }
    app = KycApplication.model_validate(example).model_copy(update={"application_id": "KYC-OCR"})
    async with make_worker(client):
        handle = await client.start_workflow(
            KycReviewWorkflow.run,
            app,
            id=f"kyc-ocr-{uuid.uuid4().hex[:8]}",
            task_queue=kyc.temporal.task_queue,
        )
        outcome = await finished(handle)
        trail = await audit(handle)
        status: RunStatus = await handle.query("status", result_type=RunStatus)

    assert outcome.action == "approved" and outcome.risk == "low"
    assert stub.count(OCR_PATH) == 2 and stub.responses_by_status[503] == 1
    ocr_request = next(r for r in stub.requests if r.path == OCR_PATH)
    assert ocr_request.body["model"] == "mistral-ocr-latest"
    assert ocr_request.body["document"]["document_url"].startswith("data:application/pdf;base64,")
    assert [e.summary for e in trail.of_kind("retry")] == [
        "Transcribe identity document succeeded on attempt 2"
    ]
    (ocr,) = [e for e in trail.of_kind("model_output") if e.detail["operation"] == "ocr"]
    assert ocr.detail["provider"] == "mistral_ai" and ocr.detail["attempt"] == 2
    (step,) = [s for s in status.steps if s.name == "Transcribe identity document"]
    assert step.attempts == 2


async def test_model_answering_off_schema_sends_the_documents_to_a_person(
    client: Client, kyc: Settings, make_worker: Callable[..., Any]
) -> None:
    kyc.approvals["kyc_review"].auto_approve_low_risk = True
    with MistralStub() as stub:
        stub.default_chat = lambda request: "I'm sorry, I can't read that passport."
        kyc.model.provider, kyc.model.mistral_api_key = "mistral", "test"
        kyc.model.mistral_server_url = stub.url
        async with make_worker(client):
            handle = await start(client, kyc, application())
            status = await until_awaiting(handle)
            trail = await audit(handle)
        calls = stub.count("/v1/chat/completions")

    assert status.awaiting_input is not None
    assert sorted(status.awaiting_input.outstanding) == ["identity_document", "proof_of_address"]
    assert calls == 6, "three bounded attempts per document, then a person"
    failures = " ".join(e.summary for e in trail.of_kind("failure"))
    assert "does not match" in failures
    assert status.decision is None and not trail.of_kind("decision")
