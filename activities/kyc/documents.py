"""Reading KYC documents: a scan becomes text (its PDF text layer, else OCR), text becomes
fields (the model).

Two activities, so a paid OCR result is kept in the run's history and never redone when
the extraction after it is retried. Files named by path are read here, in the activity,
from the intake folder only (``sluice/intake.py``: no links, no hidden files, nothing
outside it) and within a size limit: the worker is the trust boundary, whatever a client
checked before. The prompts are
versioned files beside this module. The offline provider's stand-ins read ``Label: value``
text by rules; it reads no scans, so an image or PDF goes to a person instead.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.kyc.models import (
    AddressProofFields,
    DocumentText,
    ExtractedKycDocument,
    ExtractionRequest,
    IdentityFields,
    KycDocument,
    KycDocumentKind,
    TranscriptionRequest,
)
from activities.model_gateway import MODEL_CALL, ModelCall, ModelGateway, Prompt
from activities.text_screening import quote_value, screen_text, visible
from sluice.activity_policy import with_policy
from sluice.config import DocumentSettings
from sluice.intake import IntakeRefusal, read_document

IDENTITY_TASK = "kyc.extract_identity_document"
ADDRESS_TASK = "kyc.extract_proof_of_address"
OCR_TASK = "kyc.ocr_document"
_PROMPTS = Path(__file__).parent / "prompts"
PROMPTS: dict[KycDocumentKind, tuple[str, Prompt, type[BaseModel]]] = {
    KycDocumentKind.IDENTITY_DOCUMENT: (
        IDENTITY_TASK,
        Prompt.load(_PROMPTS, "extract_identity_document", "v1"),
        IdentityFields,
    ),
    KycDocumentKind.PROOF_OF_ADDRESS: (
        ADDRESS_TASK,
        Prompt.load(_PROMPTS, "extract_proof_of_address", "v1"),
        AddressProofFields,
    ),
}

# A document the run cannot use as given (no such file, too large, not a document): not
# retryable, the run asks a person for a usable one.
DOCUMENT_NOT_USABLE = "DocumentNotUsable"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_SCAN_TYPES = frozenset(
    {"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"}
)


def not_usable(message: str) -> ApplicationError:
    # Benign: the run asks a person for the document; no fault to log on the worker.
    return ApplicationError(
        message,
        type=DOCUMENT_NOT_USABLE,
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )


def media_type(content: bytes) -> str | None:
    """The type of a scan by its first bytes; None when it is no known image or PDF."""
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if content.startswith(magic)), None)


# A PDF's text layer is used when it has at least this many letters and digits; fewer (a
# page number, a stamp on a scanned page) means the content is in the images: OCR reads it.
MIN_TEXT_LAYER_CHARACTERS = 40
# Pages read from a text layer; a longer PDF goes to OCR, whose cost the run records.
MAX_TEXT_LAYER_PAGES = 20


def pdf_text_layer(content: bytes) -> str | None:
    """The text a PDF carries, or None when it has (next to) none or cannot be read: then
    OCR reads the pages as images. A hostile PDF (malformed, deeply nested, enormous) is
    one that cannot be read, never an error of the run: it goes on to OCR, and from there
    to a person when OCR cannot read it either."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted or len(reader.pages) > MAX_TEXT_LAYER_PAGES:
            return None
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    except Exception:  # pypdf raises many kinds on malformed input; all mean "not readable"
        return None
    if sum(char.isalnum() for char in text) < MIN_TEXT_LAYER_CHARACTERS:
        return None
    return text.strip()


class KycDocumentActivities:
    """Model-backed reading of identity documents and proofs of address."""

    def __init__(self, gateway: ModelGateway, settings: DocumentSettings) -> None:
        self.gateway = gateway
        self.settings = settings

    @activity.defn(name="transcribe_kyc_document")
    @with_policy(MODEL_CALL)
    async def transcribe_document(self, request: TranscriptionRequest) -> DocumentText:
        """The document as text: given as text, a text file, or an image or PDF read by OCR."""
        document = request.document
        attempt = activity.info().attempt
        if document.text is not None:
            return DocumentText(
                kind=document.kind,
                text=document.text,
                document_sha256=document.sha256(),
                source="text",
                attempt=attempt,
            )
        content, declared_type = await self._content(document)
        digest = hashlib.sha256(content).hexdigest()
        scan_type = media_type(content)
        if scan_type is None and declared_type in (None, "text/plain"):
            try:
                text = content.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise not_usable(
                    f"the {document.kind.value} is neither UTF-8 text nor a PDF, PNG, JPEG, "
                    "GIF or WebP image"
                ) from None
            return DocumentText(
                kind=document.kind,
                text=text,
                document_sha256=digest,
                source="text_file",
                attempt=attempt,
            )
        kind = scan_type or declared_type or ""
        if kind not in _SCAN_TYPES:
            raise not_usable(f"the {document.kind.value} is of type {kind}, not a PDF or image")
        if kind == "application/pdf":
            # A PDF that carries its text is read here, offline and free; only a scan without
            # one goes to the paid OCR.
            layer = await asyncio.to_thread(pdf_text_layer, content)
            if layer is not None:
                return DocumentText(
                    kind=document.kind,
                    text=layer,
                    document_sha256=digest,
                    source="pdf_text",
                    attempt=attempt,
                )
        url = f"data:{kind};base64,{base64.b64encode(content).decode('ascii')}"
        text, record = await self.gateway.ocr(OCR_TASK, url)
        if not text.strip():
            raise not_usable(f"OCR found no text in the {document.kind.value}")
        return DocumentText(
            kind=document.kind,
            text=text,
            document_sha256=digest,
            source="ocr",
            ocr=record,
            attempt=attempt,
        )

    @activity.defn(name="extract_kyc_document")
    @with_policy(MODEL_CALL)
    async def extract_document(self, request: ExtractionRequest) -> ExtractedKycDocument:
        """Read one document's key fields."""
        task, prompt, schema = PROMPTS[request.kind]
        call = prompt.call(
            task,
            f"Document kind declared by the applicant: {request.kind.value}\n\n{request.text}",
            {"kind": request.kind.value, "text": request.text},
        )
        fields, record = await self.gateway.structured(call, schema)
        return ExtractedKycDocument(
            kind=request.kind,
            document_sha256=request.document_sha256,
            identity=fields if isinstance(fields, IdentityFields) else None,
            address_proof=fields if isinstance(fields, AddressProofFields) else None,
            model=record,
            # Read from the text itself, not from the model's answer: a model the document
            # talks round cannot hide a repeated label or an instruction from these.
            conflicts=conflicting_fields(request.kind, request.text),
            screening=screen_text(request.text),
        )

    async def _content(self, document: KycDocument) -> tuple[bytes, str | None]:
        """The document's bytes and declared media type (data URLs declare one)."""
        limit = self.settings.max_bytes
        if document.data_url is not None:
            header, _, encoded = document.data_url.partition(";base64,")
            try:
                content = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise not_usable(
                    f"the {document.kind.value} data URL is not valid base64"
                ) from None
            declared = header.removeprefix("data:").split(";")[0].strip().lower() or None
        else:
            assert document.path is not None
            try:
                content = await asyncio.to_thread(
                    read_document, self.settings.intake_dir, document.path, limit
                )
            except IntakeRefusal as refusal:
                raise not_usable(f"{document.kind.value}: {refusal}") from None
            declared = None
        if len(content) > limit:
            raise not_usable(
                f"the {document.kind.value} is {len(content) / 1_048_576:.1f} MB; a document "
                f"may be at most {limit / 1_048_576:.1f} MB"
            )
        if not content:
            raise not_usable(f"the {document.kind.value} is empty")
        return content, declared


# --- the offline provider's readers ----------------------------------------------------------

_IDENTITY_LABELS: dict[str, tuple[str, ...]] = {
    "full_name": ("full name", "name", "name of holder", "holder"),
    "surname": ("surname", "last name", "family name"),
    "given_names": ("given names", "given name", "first names", "first name", "forenames"),
    "date_of_birth": ("date of birth", "birth date", "dob", "born"),
    "nationality": ("nationality", "citizenship"),
    "expiry_date": ("date of expiry", "expiry date", "expiry", "expires", "valid until"),
    "document_number": (
        "passport no",
        "passport number",
        "document no",
        "document number",
        "card no",
        "card number",
        "licence number",
    ),
    "document_type": ("document type", "type of document"),
}
_ADDRESS_LABELS: dict[str, tuple[str, ...]] = {
    "holder_name": ("customer name", "account holder", "account name", "name", "customer"),
    "address": (
        "supply address",
        "service address",
        "billing address",
        "correspondence address",
        "property address",
        "home address",
        "address",
    ),
    "issue_date": ("bill date", "statement date", "date of issue", "issue date", "invoice date"),
    "issuer": ("issuer", "supplier", "issued by", "bank"),
    "document_type": ("document type", "type of document"),
}
_DOCUMENT_TYPES = (
    "passport",
    "national identity card",
    "identity card",
    "driving licence",
    "residence permit",
    "electricity bill",
    "gas bill",
    "water bill",
    "bank statement",
    "statement of account",
    "council tax bill",
    "tenancy agreement",
)
_DATE_FIELDS = frozenset({"date_of_birth", "expiry_date", "issue_date"})
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%d %b %Y",
    "%d %B %Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%B %d, %Y",
    "%b %d, %Y",
)


def parse_date(raw: str | None) -> date | None:
    """A date as documents print it (day before month where it is ambiguous)."""
    if not raw:
        return None
    cleaned = re.sub(r"\s+", " ", raw.strip().rstrip("."))
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    return None


def _labelled(text: str) -> dict[str, list[str]]:
    """Every value under each label, in order: a label may be repeated."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        label = re.sub(r"[^a-z ]", "", visible(label).lower()).strip()
        if sep and value.strip():
            values.setdefault(label, []).append(value.strip())
    return values


def _readings(
    values: dict[str, list[str]], labels: dict[str, tuple[str, ...]]
) -> dict[str, list[str]]:
    """Every value each field is given, under any of its labels (most specific first)."""
    return {
        field: [value for label in names for value in values.get(label, [])]
        for field, names in labels.items()
    }


def _canonical(field: str, value: str) -> object:
    if field in _DATE_FIELDS and (parsed := parse_date(value)) is not None:
        return parsed
    return " ".join(visible(value).split()).casefold()


def _conflicts(readings: dict[str, list[str]]) -> dict[str, list[str]]:
    conflicts: dict[str, list[str]] = {}
    for field, found in readings.items():
        distinct = {_canonical(field, value): quote_value(value) for value in found}
        if len(distinct) > 1:
            conflicts[field] = list(distinct.values())
    return conflicts


def conflicting_fields(kind: KycDocumentKind, text: str) -> dict[str, list[str]]:
    """Fields the document gives two or more different values for, with those values."""
    labels = _IDENTITY_LABELS if kind is KycDocumentKind.IDENTITY_DOCUMENT else _ADDRESS_LABELS
    return _conflicts(_readings(_labelled(text), labels))


def _single(readings: dict[str, list[str]], field: str) -> str | None:
    """The field's value; None when it is absent or stated twice differently (the reader
    does not pick one: the check rules name the conflict)."""
    found = readings[field]
    return found[0] if found and field not in _conflicts({field: found}) else None


def _document_type(readings: dict[str, list[str]], text: str) -> str | None:
    declared = _single(readings, "document_type")
    if declared:
        return declared
    lowered = text.lower()
    return next((kind for kind in _DOCUMENT_TYPES if kind in lowered), None)


def offline_identity(call: ModelCall) -> IdentityFields:
    """Read an identity document by label, as a clerk with a checklist would."""
    text = str(call.input.get("text") or "")
    readings = _readings(_labelled(text), _IDENTITY_LABELS)

    def first(field: str) -> str | None:
        return _single(readings, field)

    name = first("full_name")
    given, surname = first("given_names"), first("surname")
    if given and surname:
        name = f"{given} {surname}"
    return IdentityFields(
        document_type=_document_type(readings, text),
        document_number=first("document_number"),
        full_name=name,
        date_of_birth=parse_date(first("date_of_birth")),
        nationality=first("nationality"),
        expiry_date=parse_date(first("expiry_date")),
    )


def offline_address_proof(call: ModelCall) -> AddressProofFields:
    """Read a proof of address by label."""
    text = str(call.input.get("text") or "")
    readings = _readings(_labelled(text), _ADDRESS_LABELS)

    def first(field: str) -> Any:
        return _single(readings, field)

    return AddressProofFields(
        document_type=_document_type(readings, text),
        issuer=first("issuer"),
        holder_name=first("holder_name"),
        address=first("address"),
        issue_date=parse_date(first("issue_date")),
    )
