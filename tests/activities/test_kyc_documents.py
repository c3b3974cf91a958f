"""Reading KYC documents in the activity: files from the intake folder only and within the
size limit, text files read as text, scans routed to a person by the offline provider, and
labelled text read by the offline rules."""

from __future__ import annotations

import base64
import hashlib
from datetime import date
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.kyc.documents import (
    DOCUMENT_NOT_USABLE,
    KycDocumentActivities,
    offline_address_proof,
    offline_identity,
    parse_date,
)
from activities.kyc.models import DocumentText, KycDocument, TranscriptionRequest
from activities.model_gateway import DOCUMENT_NEEDS_HUMAN, ModelCall, ModelGateway
from sluice.app.wiring import offline_rules
from sluice.config import DocumentSettings
from tests.conftest import EXAMPLES
from tests.pdfs import scanned_pdf, text_pdf

DOCUMENTS = EXAMPLES / "kyc_review" / "intake"


def reader(root: Path, max_bytes: int = 1_000_000) -> KycDocumentActivities:
    settings = DocumentSettings(intake_dir=root, max_bytes=max_bytes)
    return KycDocumentActivities(ModelGateway(offline_rules()), settings)


async def transcribe(activities: KycDocumentActivities, **document: str) -> DocumentText:
    request = TranscriptionRequest(
        application_id="KYC-1",
        document=KycDocument.model_validate({"kind": "identity_document", **document}),
    )
    result: DocumentText = await ActivityEnvironment().run(activities.transcribe_document, request)
    return result


async def refusal(activities: KycDocumentActivities, **document: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await transcribe(activities, **document)
    assert raised.value.non_retryable
    return raised.value


async def test_text_file_is_read_as_text_and_fingerprinted() -> None:
    text = await transcribe(reader(DOCUMENTS), path="amelie_durand_passport.txt")
    content = (DOCUMENTS / "amelie_durand_passport.txt").read_bytes()
    assert text.source == "text_file" and text.ocr is None
    assert "Surname: DURAND" in text.text
    assert text.document_sha256 == hashlib.sha256(content).hexdigest()


def pdf_url(content: bytes) -> str:
    return f"data:application/pdf;base64,{base64.b64encode(content).decode()}"


async def test_scan_goes_to_a_person_with_the_offline_provider() -> None:
    error = await refusal(reader(DOCUMENTS), data_url=pdf_url(scanned_pdf()))
    assert error.type == DOCUMENT_NEEDS_HUMAN
    assert "cannot read application/pdf documents" in error.message


async def test_a_pdf_with_a_text_layer_is_read_offline_without_ocr() -> None:
    """The shipped passport PDF carries its text: read here, nothing sent to paid OCR (the
    offline provider, which cannot OCR, would refuse it otherwise)."""
    text = await transcribe(reader(DOCUMENTS), path="kwabena_asante_passport.pdf")
    content = (DOCUMENTS / "kwabena_asante_passport.pdf").read_bytes()
    assert text.source == "pdf_text" and text.ocr is None
    assert "Surname: ASANTE" in text.text and "Passport No: G4417208" in text.text
    assert text.document_sha256 == hashlib.sha256(content).hexdigest()
    call = ModelCall(task="t", prompt="p", prompt_version="1", system="", user="")
    fields = offline_identity(call.model_copy(update={"input": {"text": text.text}}))
    assert (fields.full_name, fields.nationality) == ("Kwabena Osei ASANTE", "Ghanaian")
    assert (fields.date_of_birth, fields.expiry_date) == (date(1988, 9, 2), date(2032, 1, 16))


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n" + b"\x00\xff" * 500,  # a PDF header over junk
        text_pdf(["7"]),  # a page number on a scanned page: not the document's text
        scanned_pdf().replace(b"/Count 1", b"/Count 99999999"),  # lying about its pages
    ],
    ids=["junk", "next-to-no-text", "lying-page-count"],
)
async def test_a_pdf_whose_text_cannot_be_used_goes_to_ocr_and_from_there_to_a_person(
    content: bytes,
) -> None:
    error = await refusal(reader(DOCUMENTS), data_url=pdf_url(content))
    assert error.type == DOCUMENT_NEEDS_HUMAN


async def test_text_data_url_is_read_as_text() -> None:
    encoded = base64.b64encode(b"Surname: DURAND").decode()
    text = await transcribe(reader(DOCUMENTS), data_url=f"data:text/plain;base64,{encoded}")
    assert text.text == "Surname: DURAND"


async def test_files_outside_the_intake_folder_missing_or_too_large_are_refused(
    tmp_path: Path,
) -> None:
    outside = await refusal(reader(DOCUMENTS), path="../low_risk.json")
    assert outside.type == DOCUMENT_NOT_USABLE
    assert outside.message == (
        "identity_document: '../low_risk.json': '..' is refused in a document path"
    )
    missing = await refusal(reader(DOCUMENTS), path="nobody_passport.pdf")
    assert missing.message == (
        "identity_document: 'nobody_passport.pdf': no such file in the intake folder"
    )
    (tmp_path / "big.pdf").write_bytes(b"%PDF-1.4" + b"0" * 3_000_000)
    too_large = await refusal(reader(tmp_path, max_bytes=2 * 1_048_576), path="big.pdf")
    assert too_large.message == (
        "identity_document: 'big.pdf': 2.9 MB; a document may be at most 2.0 MB"
    )


async def test_binary_that_is_no_document_is_refused(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    error = await refusal(reader(tmp_path), path="blob.bin")
    assert "neither UTF-8 text nor a PDF" in error.message


def call(text: str) -> ModelCall:
    return ModelCall(
        task="t", prompt="p", prompt_version="v1", system="", user=text, input={"text": text}
    )


def test_offline_rules_read_a_passport_and_a_bill_by_label() -> None:
    passport = offline_identity(call((DOCUMENTS / "amelie_durand_passport.txt").read_text()))
    assert passport.full_name == "Amélie Claire DURAND"
    assert passport.date_of_birth == date(1991, 3, 14)
    assert passport.expiry_date == date(2031, 6, 8)
    assert passport.document_type == "passport" and passport.document_number == "21FD83145"
    bill = offline_address_proof(
        call((DOCUMENTS / "amelie_durand_electricity_bill.txt").read_text())
    )
    assert bill.address == "12 rue des Tanneurs, 69003 LYON, FRANCE"
    assert bill.issue_date == date(2026, 11, 3)
    assert bill.document_type == "electricity bill"


@pytest.mark.parametrize(
    "printed",
    ["2026-03-04", "04 MAR 2026", "4 March 2026", "04/03/2026", "04.03.2026", "March 4, 2026"],
)
def test_dates_are_read_as_documents_print_them(printed: str) -> None:
    assert parse_date(printed) == date(2026, 3, 4)
