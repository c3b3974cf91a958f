"""Reading the key fields of a trade document with the model.

The prompt is a versioned file beside this module. The offline provider's stand-in reads
JSON documents and ``Label: value`` text by rules, so a run without a model still extracts
real fields from real documents.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.cargo.models import (
    DocumentFields,
    DocumentKind,
    ExtractedDocument,
    ExtractionRequest,
)
from activities.model_gateway import MODEL_CALL, ModelCall, ModelGateway, Prompt
from sluice.activity_policy import with_policy

TASK = "cargo.extract_document"
PROMPT = Prompt.load(Path(__file__).parent / "prompts", "extract_document", "v1")


class CargoDocumentActivities:
    """Model-backed reading of cargo documents."""

    def __init__(self, gateway: ModelGateway) -> None:
        self.gateway = gateway

    @activity.defn(name="extract_cargo_document")
    @with_policy(MODEL_CALL)
    async def extract_document(self, request: ExtractionRequest) -> ExtractedDocument:
        """Read one document's key fields."""
        document = request.document
        text = (
            document.content
            if isinstance(document.content, str)
            else json.dumps(document.content, indent=2)
        )
        call = PROMPT.call(
            TASK,
            f"Document kind declared by the submitter: {document.kind}\n\n{text}",
            {"kind": document.kind.value, "content": document.content},
        )
        fields, record = await self.gateway.structured(call, DocumentFields)
        return ExtractedDocument(
            kind=document.kind,
            document_sha256=document.sha256(),
            fields=fields,
            model=record,
        )


# --- the offline provider's reader -------------------------------------------------------

_LABELS: dict[str, tuple[str, ...]] = {
    "shipment_id": ("shipment id", "shipment", "booking reference", "booking no", "b/l no"),
    "shipper": ("shipper", "exporter", "seller"),
    "consignee": ("consignee", "importer", "buyer"),
    "gross_weight_kg": ("gross weight", "total gross weight", "weight"),
    "package_count": ("packages", "number of packages", "total packages", "package count"),
    "hs_codes": ("hs code", "hs codes", "tariff code", "commodity code"),
    "declared_value": ("declared value", "invoice total", "total value", "customs value"),
    "currency": ("currency",),
}

_NUMBER = re.compile(r"-?\d[\d,. ]*")


def _number(raw: str) -> float | None:
    match = _NUMBER.search(raw)
    if not match:
        return None
    digits = match.group().replace(" ", "").replace(",", "")
    try:
        value = float(digits)
    except ValueError:
        return None
    lowered = raw.lower()
    if re.search(r"\b(t|tonnes?|mt)\b", lowered):
        value *= 1000
    elif re.search(r"\b(lbs?|pounds?)\b", lowered):
        value *= 0.45359237
    return round(value, 3)


def _currency(raw: str) -> str | None:
    match = re.search(r"\b([A-Z]{3})\b", raw)
    return match.group(1) if match else None


def _field_values(call: ModelCall) -> dict[str, str | list[str] | Any]:
    content = call.input.get("content")
    if isinstance(content, dict):
        return {str(k).lower().replace("_", " "): v for k, v in content.items()}
    values: dict[str, str | list[str] | Any] = {}
    for line in str(content or "").splitlines():
        label, sep, value = line.partition(":")
        if sep and value.strip():
            values[label.strip().lower()] = value.strip()
    return values


def offline_extract(call: ModelCall) -> DocumentFields:
    """Read the fields by label, as a clerk with a checklist would."""
    values = _field_values(call)

    def first(field: str) -> Any:
        for label in (field.replace("_", " "), *_LABELS[field]):
            if label in values:
                return values[label]
        return None

    weight, packages, value = (
        first("gross_weight_kg"),
        first("package_count"),
        first("declared_value"),
    )
    hs = first("hs_codes")
    hs_codes = (
        hs if isinstance(hs, list) else re.findall(r"\d{4,10}", str(hs or "").replace(".", ""))
    )
    currency = first("currency") or (_currency(str(value)) if value is not None else None)
    packages_number = _number(str(packages)) if packages is not None else None
    return DocumentFields(
        document_kind=DocumentKind(call.input["kind"]),
        shipment_id=first("shipment_id"),
        shipper=first("shipper"),
        consignee=first("consignee"),
        gross_weight_kg=_number(str(weight)) if weight is not None else None,
        package_count=int(packages_number) if packages_number is not None else None,
        hs_codes=[str(code).replace(".", "") for code in hs_codes],
        declared_value=_number(str(value)) if value is not None else None,
        currency=currency,
    )
