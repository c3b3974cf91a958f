"""A 5 MB scanned passport through a KYC review, as an onboarding desk would send it: started
from ``starter.py`` with the scan inside the application file, read by OCR (Mistral's wire
format, served on 127.0.0.1), decided, and replayable afterwards. Temporal refuses payloads
above 2 MB; the payload store holds the scan, encrypted, and the history holds claims."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.kyc.models import KycApplication
from sluice.app.catalog import BY_COMMAND
from sluice.app.inputs import CliError, read_input
from sluice.app.plugin import workflow_runner
from sluice.app.wiring import WORKFLOWS
from sluice.codec import ENCODING, EncryptionCodec
from sluice.config import Settings
from sluice.converter import sluice_data_converter
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from sluice.payload_store import LOCAL_DRIVER, LocalPayloadStore
from tests.conftest import approval_settings
from tests.stubs.mistral_api import OCR_PATH, MistralStub
from tests.support import starter
from workflows.kyc_review import KycOutcome

SCAN_BYTES = 5 * 1024 * 1024
TODAY = datetime.now(UTC).date()
PASSPORT_NUMBER = "G4417208"


def scanned_pdf(size: int = SCAN_BYTES) -> bytes:
    """A valid one-page PDF whose page is a greyscale scan of random (incompressible) pixels,
    at least ``size`` bytes long."""
    width = 2048
    height = -(-size // width)
    pixels = random.Random(440).randbytes(width * height)
    page = b"q 612 0 0 792 0 0 cm /Scan Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /XObject << /Scan 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length %d >>\nstream\n%s\nendstream"
        % (width, height, len(pixels), pixels),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(page), page),
    ]
    pdf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(pdf)


def application_with_scan(pdf: bytes) -> dict[str, Any]:
    """Kwabena Asante's application: the passport as a scanned PDF, the bill as text."""
    return {
        "application_id": f"KYC-BIG-{uuid.uuid4().hex[:6]}",
        "requested_by": "onboarding-portal",
        "applicant": {
            "full_name": "Kwabena Asante",
            "date_of_birth": "1988-09-02",
            "nationality": "Ghanaian",
            "address": "31 Larkhall Rise, London SW4 6HU, United Kingdom",
        },
        "documents": [
            {
                "kind": "identity_document",
                "reference": "passport (600 dpi scan)",
                "data_url": "data:application/pdf;base64," + base64.b64encode(pdf).decode(),
            },
            {
                "kind": "proof_of_address",
                "text": "LONDON BOROUGH OF LAMBETH — COUNCIL TAX BILL\n"
                "Account holder: Mr Kwabena Asante\n"
                "Property address: 31 Larkhall Rise, London SW4 6HU\n"
                f"Date of issue: {(TODAY - timedelta(days=11)).isoformat()}",
            },
        ],
    }


def model_answer(request: dict[str, Any]) -> dict[str, Any]:
    """What the model reads from the OCR text of the passport, or from the bill."""
    if "identity documents" in request["messages"][0]["content"]:
        return {
            "document_type": "passport",
            "document_number": PASSPORT_NUMBER,
            "full_name": "Kwabena Asante",
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


@pytest.fixture
def stub() -> Iterator[MistralStub]:
    with MistralStub() as running:
        running.default_ocr = lambda _request: [
            f"# REPUBLIC OF GHANA\nPASSPORT\nPassport No: {PASSPORT_NUMBER}\n"
            "Surname: ASANTE\nGiven names: Kwabena"
        ]
        running.default_chat = model_answer
        yield running


@pytest.fixture
def kyc(settings: Settings, stub: MistralStub) -> Settings:
    """Mistral (the stub) reads the scans; a low-risk application is approved on its own."""
    settings.model.provider = "mistral"
    settings.model.mistral_api_key = "test"
    settings.model.mistral_server_url = stub.url
    settings.approvals["kyc_review"] = approval_settings(
        reviewers={"kyc_approval": ["alice", "bob"]}, auto_approve_low_risk=True
    )
    return settings


def claims_in(history: WorkflowHistory) -> list[ExternalStorageReference]:
    """Every external-storage claim the history holds in place of a payload."""
    claims = []
    for event in history.events:
        for payload in payloads_of(event):
            if (
                payload.metadata.get("messageType")
                == ExternalStorageReference.DESCRIPTOR.full_name.encode()
            ):
                claims.append(json_format.Parse(payload.data, ExternalStorageReference()))
    return claims


def payloads_of(message: Any) -> Iterator[Payload]:
    """Every payload anywhere inside a history event."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if hasattr(item, "ListFields"):
                yield from payloads_of(item)


async def test_a_5_mb_scanned_passport_goes_through_the_review_and_replays(
    dev_env: WorkflowEnvironment,
    kyc: Settings,
    stub: MistralStub,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    pdf = scanned_pdf()
    application = application_with_scan(pdf)
    file = tmp_path / "application.json"
    file.write_text(json.dumps(application))
    assert file.stat().st_size > 6_900_000  # the scan in base64, over three times the 2 MB limit

    client = dev_env.client
    # No workflow cache: every workflow task replays the run from its history, fetching the
    # scan back from the store each time.
    async with make_worker(client, max_cached_workflows=0):
        workflow_id = f"kyc-large-{uuid.uuid4().hex[:8]}"
        started = await starter(
            dev_env, kyc, "start", "kyc-review", str(file), "--id", workflow_id, seconds=120
        )
        assert started.returncode == 0, started.stderr
        handle = client.get_workflow_handle(workflow_id, result_type=KycOutcome)
        outcome: KycOutcome = await asyncio.wait_for(handle.result(), timeout=120)
        trail: AuditTrail = await handle.query("audit", result_type=AuditTrail)

    assert outcome.action == "approved" and outcome.risk == "low"
    # The whole scan reached the OCR call, byte for byte.
    (ocr_request,) = [r for r in stub.requests if r.path == OCR_PATH]
    sent = ocr_request.body["document"]["document_url"]
    assert base64.b64decode(sent.split(";base64,", 1)[1]) == pdf
    (ocr,) = [e for e in trail.of_kind("model_output") if e.detail["operation"] == "ocr"]
    assert ocr.detail["provider"] == "mistral_ai"

    # The history holds claims, not the scan: no event comes near the store's threshold.
    history = await handle.fetch_history()
    threshold = kyc.payloads.threshold_bytes
    assert max(event.ByteSize() for event in history.events) < threshold
    claims = claims_in(history)
    # The application (workflow input) and the transcription request (activity input).
    assert len(claims) >= 2
    assert {claim.driver_name for claim in claims} == {LOCAL_DRIVER}

    # What the store holds is ciphertext: neither the scan nor the applicant is readable.
    store = LocalPayloadStore(kyc.payloads.directory)
    for claim in claims:
        assert set(claim.claim_data) == {"hash_algorithm", "hash_value"}
        blob = store.path_of(claim.claim_data["hash_value"]).read_bytes()
        assert len(blob) > SCAN_BYTES
        assert Payload.FromString(blob).metadata["encoding"] == ENCODING
        assert b"Kwabena" not in blob and b"Larkhall" not in blob
        assert b"JVBERi0" not in blob  # "%PDF-" in base64
        assert pdf[1000:1064] not in blob

    # The finished run replays from its history, reading the scan back from the store; without
    # the store, the history alone cannot be replayed.
    workflows = list(WORKFLOWS)
    await Replayer(
        workflows=workflows,
        data_converter=client.data_converter,
        workflow_runner=workflow_runner(),
    ).replay_workflow(history)
    with pytest.raises(RuntimeError, match=r"TMPRL1105.*external storage is not configured"):
        await Replayer(
            workflows=workflows,
            data_converter=sluice_data_converter(),
            workflow_runner=workflow_runner(),
        ).replay_workflow(history)


async def test_a_5_mb_scan_provided_while_the_run_waits_goes_through(
    dev_env: WorkflowEnvironment,
    kyc: Settings,
    stub: MistralStub,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """The application came without its passport; the desk sends the scan with ``provide``
    (a signal, stored like any other large payload) and the review carries on."""
    pdf = scanned_pdf()
    application = application_with_scan(pdf)
    scan = application["documents"].pop(0)
    file, delivery = tmp_path / "application.json", tmp_path / "passport.json"
    file.write_text(json.dumps(application))
    delivery.write_text(
        json.dumps(
            {"kind": scan["kind"], "document": {"data_url": scan["data_url"]}, "provided_by": "bob"}
        )
    )
    client = dev_env.client
    workflow_id = f"kyc-large-{uuid.uuid4().hex[:8]}"
    async with make_worker(client):
        started = await starter(
            dev_env, kyc, "start", "kyc-review", str(file), "--id", workflow_id, seconds=120
        )
        assert started.returncode == 0, started.stderr
        handle = client.get_workflow_handle(workflow_id, result_type=KycOutcome)
        for _ in range(200):
            status: RunStatus = await handle.query("status", result_type=RunStatus)
            if status.awaiting_input is not None:
                break
            await asyncio.sleep(0.05)
        assert status.awaiting_input is not None
        provided = await starter(dev_env, kyc, "provide", workflow_id, str(delivery), seconds=120)
        assert provided.returncode == 0, provided.stderr
        outcome = await asyncio.wait_for(handle.result(), timeout=120)

    assert outcome.action == "approved"
    (ocr_request,) = [r for r in stub.requests if r.path == OCR_PATH]
    assert ocr_request.body["document"]["document_url"] == scan["data_url"]
    history = await handle.fetch_history()
    assert max(event.ByteSize() for event in history.events) < kyc.payloads.threshold_bytes


async def test_without_a_payload_store_the_scan_is_refused_at_start(
    dev_env: WorkflowEnvironment, codec: EncryptionCodec, settings: Settings
) -> None:
    """A client configured without the store (not one of ours) cannot send the scan: the
    server refuses it at start, and nothing is started."""
    plain = Client(**{**dev_env.client.config(), "data_converter": sluice_data_converter(codec)})
    application = KycApplication.model_validate(application_with_scan(scanned_pdf()))
    workflow_id = f"kyc-large-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RPCError) as refused:
        await plain.start_workflow(
            "KycReviewWorkflow",
            application,
            id=workflow_id,
            task_queue=settings.temporal.task_queue,
        )
    assert refused.value.status == RPCStatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in refused.value.message
    with pytest.raises(RPCError) as unknown:
        await dev_env.client.get_workflow_handle(workflow_id).describe()
    assert unknown.value.status == RPCStatusCode.NOT_FOUND


def test_a_scan_over_10_mb_is_refused_at_the_cli_with_what_to_do_instead(tmp_path: Path) -> None:
    oversized = tmp_path / "application.json"
    oversized.write_text(json.dumps(application_with_scan(scanned_pdf(11 * 1024 * 1024))))
    with pytest.raises(CliError) as refused:
        read_input(BY_COMMAND["kyc-review"], oversized)
    message = str(refused.value)
    assert "documents.0.data_url" in message
    assert "at most 10 MB of document (this one about 11 MB): give a larger scan by path" in message
