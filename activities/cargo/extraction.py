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
from activities.text_screening import quote_value, visible
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


def _labelled(content: object) -> list[tuple[str, Any]]:
    """Every ``(label, value)`` pair of a document, in order, repeats included."""
    if isinstance(content, dict):
        return [(_label(str(key).replace("_", " ")), value) for key, value in content.items()]
    pairs: list[tuple[str, Any]] = []
    for line in str(content or "").splitlines():
        label, sep, value = line.partition(":")
        if sep and value.strip():
            pairs.append((_label(label), value.strip()))
    return pairs


def _label(raw: str) -> str:
    # Hidden characters must not make "Gross\u200b weight" a label nobody reads.
    return " ".join(visible(raw).lower().split())


def field_readings(content: object) -> dict[str, list[Any]]:
    """Every value the document gives for each field, under any of the field's labels: a
    document may name a field twice, and both values count."""
    readings: dict[str, list[Any]] = {field: [] for field in _LABELS}
    for label, value in _labelled(content):
        for field, labels in _LABELS.items():
            if label == field.replace("_", " ") or label in labels:
                readings[field].append(value)
    # The currency printed with the value ("96,000.00 USD") is a reading of the currency too.
    readings["currency"] += [
        code for value in readings["declared_value"] if (code := _currency(str(value)))
    ]
    return readings


def _canonical(field: str, value: Any) -> object:
    """The value as compared: numbers as numbers (so "21,600 kg" is "21600"), text folded."""
    if field in ("gross_weight_kg", "declared_value", "package_count"):
        number = _number(str(value))
        if number is not None:
            return number
    return " ".join(visible(str(value)).split()).casefold()


def conflicting_fields(content: object) -> dict[str, list[str]]:
    """Fields the document gives two or more different values for, with those values.

    HS codes are a list (an invoice may carry several), so repeating them is no conflict."""
    conflicts: dict[str, list[str]] = {}
    for field, values in field_readings(content).items():
        if field == "hs_codes":
            continue
        distinct = {_canonical(field, value): quote_value(str(value)) for value in values}
        if len(distinct) > 1:
            conflicts[field] = list(distinct.values())
    return conflicts


def _hs_codes(values: list[Any]) -> list[str]:
    codes: list[str] = []
    for value in values:
        listed = value if isinstance(value, list) else [value]
        for item in listed:
            codes += re.findall(r"\d{4,10}", str(item).replace(".", ""))
    return list(dict.fromkeys(codes))


def offline_extract(call: ModelCall) -> DocumentFields:
    """Read the fields by label, as a clerk with a checklist would. A field the document
    gives two different values for is left unread: the clerk does not pick one (the
    cross-check names the conflict)."""
    content = call.input.get("content")
    readings = field_readings(content)
    conflicts = conflicting_fields(content)

    def single(field: str) -> Any:
        values = readings[field]
        return None if not values or field in conflicts else values[0]

    def text(field: str) -> str | None:
        value = single(field)
        return None if value is None else str(value)

    weight, packages, value = (
        single("gross_weight_kg"),
        single("package_count"),
        single("declared_value"),
    )
    packages_number = _number(str(packages)) if packages is not None else None
    return DocumentFields(
        document_kind=DocumentKind(call.input["kind"]),
        shipment_id=text("shipment_id"),
        shipper=text("shipper"),
        consignee=text("consignee"),
        gross_weight_kg=_number(str(weight)) if weight is not None else None,
        package_count=int(packages_number) if packages_number is not None else None,
        hs_codes=_hs_codes(readings["hs_codes"]),
        declared_value=_number(str(value)) if value is not None else None,
        currency=text("currency"),
    )
