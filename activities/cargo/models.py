"""Payloads of the cargo release process: the shipment as submitted, what was read from each
document, and what the cross-check rules found. Plain JSON on the wire, so the ``temporal``
CLI can start a run from a file."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sluice.model_contracts import ModelRecord
from sluice.search_attributes import RiskLevel


class DocumentKind(StrEnum):
    BILL_OF_LADING = "bill_of_lading"
    COMMERCIAL_INVOICE = "commercial_invoice"
    PACKING_LIST = "packing_list"
    CUSTOMS_DECLARATION = "customs_declaration"


REQUIRED_DOCUMENTS: tuple[DocumentKind, ...] = tuple(DocumentKind)


class ShipmentDocument(BaseModel):
    """One trade document, as text or as structured JSON."""

    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind
    reference: str | None = Field(default=None, max_length=120)
    content: str | dict[str, Any] = Field(
        description="The document text, or its fields as a JSON object"
    )

    @field_validator("content")
    @classmethod
    def _not_empty(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if not value or (isinstance(value, str) and not value.strip()):
            raise ValueError("document content is empty")
        return value

    def sha256(self) -> str:
        """Fingerprint of the content, recorded in the audit trail."""
        raw = (
            self.content
            if isinstance(self.content, str)
            else json.dumps(self.content, sort_keys=True)
        )
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class Shipment(BaseModel):
    """A shipment waiting at the terminal for release."""

    model_config = ConfigDict(extra="forbid")

    shipment_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")
    shipper: str = Field(min_length=2, max_length=200)
    consignee: str = Field(min_length=2, max_length=200)
    consignee_contact: str = Field(min_length=3, max_length=200)
    notify_party: str | None = Field(default=None, max_length=200)
    vessel: str | None = Field(default=None, max_length=120)
    port_of_discharge: str = Field(min_length=2, max_length=120)
    requested_by: str = Field(default="unknown", max_length=120)
    documents: list[ShipmentDocument] = Field(min_length=1, max_length=20)

    def parties(self) -> list[str]:
        """Every party and vessel name to screen."""
        names = [self.shipper, self.consignee, self.notify_party, self.vessel]
        return [name for name in names if name]


class DocumentFields(BaseModel):
    """The key fields read from one document: what the model is asked for."""

    document_kind: DocumentKind
    shipment_id: str | None = None
    shipper: str | None = None
    consignee: str | None = None
    gross_weight_kg: float | None = Field(default=None, ge=0)
    package_count: int | None = Field(default=None, ge=0)
    hs_codes: list[str] = Field(default_factory=list)
    declared_value: float | None = Field(default=None, ge=0)
    currency: str | None = None


class ExtractionRequest(BaseModel):
    shipment_id: str
    document: ShipmentDocument


class ExtractedDocument(BaseModel):
    """What was read from a document, and which model and prompt read it."""

    kind: DocumentKind
    document_sha256: str
    fields: DocumentFields
    model: ModelRecord


class RuleHit(BaseModel):
    """One rule that found a problem, with the evidence."""

    rule: str
    severity: str
    message: str
    documents: list[DocumentKind] = Field(default_factory=list)


class CrossCheckRequest(BaseModel):
    shipment: Shipment
    extracted: list[ExtractedDocument]


class CrossCheckResult(BaseModel):
    """The outcome of the cross-check rules on one shipment."""

    ruleset: str
    rules_applied: list[str]
    hits: list[RuleHit]


class CargoSettings(BaseModel):
    """Tolerances for the cargo document cross-check rules."""

    weight_tolerance_percent: float = 2.0
    package_count_tolerance: int = 0
    value_tolerance_percent: float = 1.0


# --- the run's outcome and the workflow's own models (here, not in the workflow module:
# see ``PASSED_THROUGH`` in sluice/app/plugin.py) ------------------------------------------


class CargoReleaseOutcome(BaseModel):
    """How the run ended for the shipment."""

    shipment_id: str
    action: Literal["released", "held"]
    terminal_reference: str
    decision: str
    decided_by: list[str]
    risk: RiskLevel
    rule_hits: list[str]
    screening_hits: list[str]
    unreadable_documents: list[str]
    undelivered_notices: list[str] = []
