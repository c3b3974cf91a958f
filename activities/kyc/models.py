"""Payloads of the KYC review: the application as submitted, each document as text or as a
scan, what was read from the documents, and what the check rules found. Plain JSON on the
wire, so the ``temporal`` CLI can start a run from a file."""

from __future__ import annotations

import hashlib
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from activities.text_screening import TextScreening, describe
from sluice.framework.human_input import ProvidedInput
from sluice.intake import INTAKE_PATH
from sluice.model_contracts import ModelRecord
from sluice.search_attributes import RiskLevel

# A data URL above the payload store's threshold leaves the run's history (only a claim stays,
# see sluice/payload_store.py), so a scan may be as large as the default document limit:
# 10 MB, which base64 makes 14 million characters. A larger scan is given by path.
MAX_DATA_URL_MB = 10
MAX_DATA_URL_CHARS = 14_000_000


class KycDocumentKind(StrEnum):
    IDENTITY_DOCUMENT = "identity_document"
    PROOF_OF_ADDRESS = "proof_of_address"


REQUIRED_DOCUMENTS: tuple[KycDocumentKind, ...] = tuple(KycDocumentKind)


class DocumentSource(BaseModel):
    """One document: its text, or an image or PDF given as a file path or a data URL."""

    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(default=None, max_length=120)
    text: str | None = Field(default=None, max_length=200_000)
    # Checked where it is read (sluice/intake.py), so that a bad path sent straight to the
    # worker makes the document unreadable, for a person to replace, rather than the input
    # invalid. The length bound only keeps the payload small; the intake's is stricter.
    path: Annotated[str | None, INTAKE_PATH] = Field(
        default=None,
        max_length=10_000,
        description="A file in the intake folder ([documents] intake_dir), relative to it",
    )
    data_url: str | None = Field(
        default=None,
        max_length=MAX_DATA_URL_CHARS,
        description="data:application/pdf;base64,... or data:image/png;base64,...",
    )

    @field_validator("text", "path")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("is empty")
        return value

    @field_validator("data_url", mode="before")
    @classmethod
    def _not_too_large(cls, value: object) -> object:
        # Before the length constraint, so the message says what to do instead.
        if isinstance(value, str) and len(value) > MAX_DATA_URL_CHARS:
            raise ValueError(
                f"a data URL may carry at most {MAX_DATA_URL_MB} MB of document (this one "
                f"about {len(value) * 3 / 4 / 1_048_576:.0f} MB): give a larger scan by path"
            )
        return value

    @field_validator("data_url")
    @classmethod
    def _is_data_url(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("data:") and ";base64," in value):
            raise ValueError("must be a base64 data URL (data:<type>;base64,...)")
        return value

    @model_validator(mode="after")
    def _exactly_one_form(self) -> DocumentSource:
        given = [name for name in ("text", "path", "data_url") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of text, path or data_url")
        return self

    @property
    def form(self) -> Literal["text", "path", "data_url"]:
        if self.text is not None:
            return "text"
        return "path" if self.path is not None else "data_url"

    def sha256(self) -> str:
        """Fingerprint of what the run holds: the text, the data URL, or the path (a file's
        own hash is recorded when the activity reads it)."""
        held = self.text or self.data_url or f"path:{self.path}"
        return hashlib.sha256(held.encode("utf-8")).hexdigest()


class KycDocument(DocumentSource):
    """A document of the application, with what kind of document it is."""

    kind: KycDocumentKind


class DeclaredApplicant(BaseModel):
    """The applicant as they declared themselves on the application form."""

    model_config = ConfigDict(extra="forbid")

    full_name: str = Field(min_length=2, max_length=200)
    date_of_birth: date
    nationality: str = Field(min_length=2, max_length=80)
    address: str = Field(min_length=5, max_length=400)


class KycApplication(BaseModel):
    """A customer onboarding application waiting for its KYC review."""

    model_config = ConfigDict(extra="forbid")

    application_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
    requested_by: str = Field(min_length=1, max_length=120)
    applicant: DeclaredApplicant
    documents: list[KycDocument] = Field(default_factory=list, max_length=len(KycDocumentKind))

    @field_validator("documents")
    @classmethod
    def _one_per_kind(cls, documents: list[KycDocument]) -> list[KycDocument]:
        kinds = [document.kind for document in documents]
        for kind in set(kinds):
            if kinds.count(kind) > 1:
                raise ValueError(f"more than one {kind.value}")
        return documents


class IdentityFields(BaseModel):
    """What the model is asked to read from an identity document."""

    document_type: str | None = None
    document_number: str | None = None
    full_name: str | None = None
    date_of_birth: date | None = None
    nationality: str | None = None
    expiry_date: date | None = None


class AddressProofFields(BaseModel):
    """What the model is asked to read from a proof of address."""

    document_type: str | None = None
    issuer: str | None = None
    holder_name: str | None = None
    address: str | None = None
    issue_date: date | None = None


class TranscriptionRequest(BaseModel):
    application_id: str
    document: KycDocument


class DocumentText(BaseModel):
    """A document as text: given as text, read from a text file or a PDF's text layer, or
    transcribed by OCR."""

    kind: KycDocumentKind
    text: str
    document_sha256: str
    source: Literal["text", "text_file", "pdf_text", "ocr"]
    ocr: ModelRecord | None = None
    # The activity attempt that produced this, so the run's timeline shows retries.
    attempt: int = 1


class ExtractionRequest(BaseModel):
    application_id: str
    kind: KycDocumentKind
    text: str
    document_sha256: str


class ExtractedKycDocument(BaseModel):
    """What was read from one document, and which model and prompt read it."""

    kind: KycDocumentKind
    document_sha256: str
    identity: IdentityFields | None = None
    address_proof: AddressProofFields | None = None
    model: ModelRecord
    # What the document's text itself shows, whoever read it (absent from runs recorded
    # before these checks): fields stated twice differently, and the text screening.
    conflicts: dict[str, list[str]] = Field(default_factory=dict)
    screening: TextScreening | None = None

    def unreadable_because(self) -> str | None:
        """Why the key fields could not be read, or None when they could. The reason names
        what the text itself showed, so the person asked for the document sees it too."""
        if self.identity is not None and not (
            self.identity.full_name or self.identity.date_of_birth
        ):
            return "neither a name nor a date of birth could be read from it" + self._shown()
        if self.address_proof is not None and not self.address_proof.address:
            return "no address could be read from it" + self._shown()
        return None

    def _shown(self) -> str:
        shown = [
            f"; [conflicting_values] {field} stated as " + " / ".join(f"'{v}'" for v in values)
            for field, values in self.conflicts.items()
        ]
        if self.screening is not None and self.screening.instructions:
            shown.append(f"; [instruction_like_text] {describe(self.screening)}")
        if self.screening is not None and self.screening.hidden_characters:
            hidden = ", ".join(self.screening.hidden_characters[:5])
            shown.append(f"; [hidden_characters] {hidden}")
        return "".join(shown)


class KycRuleHit(BaseModel):
    """One rule that found a problem, with the evidence."""

    rule: str
    severity: Literal["medium", "high"]
    message: str
    document: KycDocumentKind


class KycCheckRequest(BaseModel):
    applicant: DeclaredApplicant
    documents: list[ExtractedKycDocument]
    as_of: date = Field(description="The run's date (workflow time), never the clock's")


class KycCheckResult(BaseModel):
    """The outcome of the KYC check rules on one application."""

    ruleset: str
    rules_applied: list[str]
    settings: dict[str, float | int]
    hits: list[KycRuleHit]


class KycSettings(BaseModel):
    """Limits of the KYC document checks."""

    proof_of_address_max_age_days: int = Field(default=90, ge=1)
    # Names on a document and on the form match at or above this score (0..1).
    name_match_threshold: float = Field(default=0.85, gt=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _document_keys_moved(cls, raw: Any) -> Any:
        # Ignored silently, an old document_root would leave documents unreadable unnoticed.
        moved = (
            sorted({"document_root", "max_document_bytes"} & set(raw))
            if isinstance(raw, dict)
            else []
        )
        if moved:
            raise ValueError(f"{' and '.join(moved)} moved to [documents] (intake_dir, max_bytes)")
        return raw


# --- the run's outcome and the workflow's own models (here, not in the workflow module:
# see ``PASSED_THROUGH`` in sluice/app/plugin.py) ------------------------------------------


class DocumentDelivery(ProvidedInput):
    """Payload of the ``provide_document`` signal: a missing or unreadable document."""

    kind: KycDocumentKind
    document: DocumentSource

    @property
    def item(self) -> str:
        return self.kind.value

    def as_document(self) -> KycDocument:
        return KycDocument(kind=self.kind, **self.document.model_dump())


class KycOutcome(BaseModel):
    """How the review ended for the application."""

    application_id: str
    action: Literal["approved", "rejected", "closed_incomplete"]
    decision: str
    decided_by: list[str]
    risk: RiskLevel | None
    reason: str | None
    rule_hits: list[str]
    screening_hits: list[str]
    outstanding_documents: list[str]
