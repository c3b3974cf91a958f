"""Cross-check rules for cargo release: explicit, named, versioned.

Each rule is a small function over the shipment and what was read from its documents. The
ruleset's version goes into the audit trail with every hit, so an auditor can tell which
rule, in which version, held a shipment. Change a rule, change ``RULESET``.

They fail closed: a field a document must carry and does not, a document nothing was read
from, a field stated twice differently, and text addressed to the reader are hits, so the
shipment goes to an officer. The last three read the document itself, not the model's
answer, so a model the document talked round cannot hide them.

Rules run in an activity rather than in workflow code so that their results are recorded in
history: a later rule change cannot alter what a running workflow already decided.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from temporalio import activity

from activities.cargo.extraction import conflicting_fields
from activities.cargo.models import (
    REQUIRED_DOCUMENTS,
    CargoSettings,
    CrossCheckRequest,
    CrossCheckResult,
    DocumentFields,
    DocumentKind,
    ExtractedDocument,
    RuleHit,
    Shipment,
)
from activities.text_screening import (
    PATTERNS_VERSION,
    describe,
    flatten,
    quote_value,
    screen_text,
)
from sluice.activity_policy import LOCAL_COMPUTATION, with_policy

RULESET = "cargo-crosscheck/2026.12.1"

# The fields each kind of document must carry for the cross-check to judge it. A field not
# read is a finding for the officer, never a value the rules skip: a packing list without
# a weight cannot contradict the bill of lading, so it must not pass for one that agrees.
REQUIRED_FIELDS: dict[DocumentKind, tuple[str, ...]] = {
    DocumentKind.BILL_OF_LADING: (
        "shipment_id",
        "shipper",
        "consignee",
        "gross_weight_kg",
        "package_count",
    ),
    DocumentKind.COMMERCIAL_INVOICE: (
        "shipment_id",
        "shipper",
        "consignee",
        "hs_codes",
        "declared_value",
        "currency",
    ),
    DocumentKind.PACKING_LIST: ("shipment_id", "gross_weight_kg", "package_count"),
    DocumentKind.CUSTOMS_DECLARATION: (
        "shipment_id",
        "consignee",
        "hs_codes",
        "declared_value",
        "currency",
        "gross_weight_kg",
        "package_count",
    ),
}
READ_FIELDS = tuple(name for name in DocumentFields.model_fields if name != "document_kind")


Rule = Callable[[Shipment, list[ExtractedDocument], CargoSettings], list[RuleHit]]


def _normalise(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9 ]", " ", ascii_name.lower()).split()
    legal_forms = {"ltd", "limited", "llc", "gmbh", "inc", "sa", "bv", "plc", "co", "srl"}
    return " ".join(word for word in words if word not in legal_forms)


def _spread_percent(values: list[float]) -> float:
    low, high = min(values), max(values)
    return 0.0 if high == 0 else (high - low) / high * 100


def missing_document(
    shipment: Shipment, extracted: list[ExtractedDocument], _: CargoSettings
) -> list[RuleHit]:
    present = {doc.kind for doc in shipment.documents}
    return [
        RuleHit(
            rule="missing_document",
            severity="high",
            message=f"required document missing: {kind.value}",
            documents=[kind],
        )
        for kind in REQUIRED_DOCUMENTS
        if kind not in present
    ]


def weight_mismatch(
    _: Shipment, extracted: list[ExtractedDocument], settings: CargoSettings
) -> list[RuleHit]:
    # Every document counts, two of one kind too, and a weight of 0 kg is a weight.
    weights = [
        (d.kind, d.fields.gross_weight_kg)
        for d in extracted
        if d.fields.gross_weight_kg is not None
    ]
    if len(weights) < 2:
        return []
    spread = _spread_percent([weight for _, weight in weights])
    if spread <= settings.weight_tolerance_percent:
        return []
    listed = ", ".join(f"{kind.value} {weight:g} kg" for kind, weight in weights)
    return [
        RuleHit(
            rule="weight_mismatch",
            severity="medium",
            message=(
                f"gross weights differ by {spread:.1f}% "
                f"(tolerance {settings.weight_tolerance_percent:g}%): {listed}"
            ),
            documents=[kind for kind, _ in weights],
        )
    ]


def package_count_mismatch(
    _: Shipment, extracted: list[ExtractedDocument], settings: CargoSettings
) -> list[RuleHit]:
    counts = [
        (d.kind, d.fields.package_count) for d in extracted if d.fields.package_count is not None
    ]
    values = [count for _, count in counts]
    if len(values) < 2 or max(values) - min(values) <= settings.package_count_tolerance:
        return []
    listed = ", ".join(f"{kind.value} {count}" for kind, count in counts)
    return [
        RuleHit(
            rule="package_count_mismatch",
            severity="medium",
            message=f"package counts differ: {listed}",
            documents=[kind for kind, _ in counts],
        )
    ]


def consignee_mismatch(
    shipment: Shipment, extracted: list[ExtractedDocument], _: CargoSettings
) -> list[RuleHit]:
    expected = _normalise(shipment.consignee)
    return [
        RuleHit(
            rule="consignee_mismatch",
            severity="high",
            message=(
                f"{doc.kind.value} names consignee '{quote_value(doc.fields.consignee)}', "
                f"shipment declares '{shipment.consignee}'"
            ),
            documents=[doc.kind],
        )
        for doc in extracted
        if doc.fields.consignee and _normalise(doc.fields.consignee) != expected
    ]


def shipper_mismatch(
    shipment: Shipment, extracted: list[ExtractedDocument], _: CargoSettings
) -> list[RuleHit]:
    expected = _normalise(shipment.shipper)
    return [
        RuleHit(
            rule="shipper_mismatch",
            severity="high",
            message=(
                f"{doc.kind.value} names shipper '{quote_value(doc.fields.shipper)}', "
                f"shipment declares '{shipment.shipper}'"
            ),
            documents=[doc.kind],
        )
        for doc in extracted
        if doc.fields.shipper and _normalise(doc.fields.shipper) != expected
    ]


def hs_code_mismatch(
    _: Shipment, extracted: list[ExtractedDocument], __: CargoSettings
) -> list[RuleHit]:
    # Compare at the six-digit international level: national suffixes legitimately differ.
    coded = [
        (d.kind, {code[:6] for code in d.fields.hs_codes})
        for d in extracted
        if d.kind in (DocumentKind.COMMERCIAL_INVOICE, DocumentKind.CUSTOMS_DECLARATION)
        and d.fields.hs_codes
    ]
    if len(coded) < 2 or len({frozenset(codes) for _, codes in coded}) == 1:
        return []
    listed = ", ".join(f"{kind.value} {sorted(codes)}" for kind, codes in coded)
    return [
        RuleHit(
            rule="hs_code_mismatch",
            severity="high",
            message=f"HS codes differ between invoice and declaration: {listed}",
            documents=[kind for kind, _ in coded],
        )
    ]


def declared_value_mismatch(
    _: Shipment, extracted: list[ExtractedDocument], settings: CargoSettings
) -> list[RuleHit]:
    valued = [
        d
        for d in extracted
        if d.kind in (DocumentKind.COMMERCIAL_INVOICE, DocumentKind.CUSTOMS_DECLARATION)
        and d.fields.declared_value is not None
    ]
    if len(valued) < 2:
        return []
    currencies = {d.fields.currency for d in valued if d.fields.currency}
    values = [d.fields.declared_value for d in valued if d.fields.declared_value is not None]
    spread = _spread_percent(values)
    if len(currencies) <= 1 and spread <= settings.value_tolerance_percent:
        return []
    listed = ", ".join(
        f"{d.kind.value} {d.fields.declared_value:g} {d.fields.currency or ''}".strip()
        for d in valued
    )
    return [
        RuleHit(
            rule="declared_value_mismatch",
            severity="high",
            message=f"declared values are inconsistent: {listed}",
            documents=[d.kind for d in valued],
        )
    ]


def shipment_reference_mismatch(
    shipment: Shipment, extracted: list[ExtractedDocument], _: CargoSettings
) -> list[RuleHit]:
    return [
        RuleHit(
            rule="shipment_reference_mismatch",
            severity="medium",
            message=(
                f"{doc.kind.value} refers to shipment '{quote_value(doc.fields.shipment_id)}', "
                f"not '{shipment.shipment_id}'"
            ),
            documents=[doc.kind],
        )
        for doc in extracted
        if doc.fields.shipment_id
        and doc.fields.shipment_id.strip().upper() != shipment.shipment_id.upper()
    ]


def _missing(fields: DocumentFields, name: str) -> bool:
    value = getattr(fields, name)
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def unreadable_document(
    _: Shipment, extracted: list[ExtractedDocument], __: CargoSettings
) -> list[RuleHit]:
    return [
        RuleHit(
            rule="unreadable_document",
            severity="medium",
            message=f"nothing could be read from the {doc.kind.value}: a person must read it",
            documents=[doc.kind],
        )
        for doc in extracted
        if all(_missing(doc.fields, name) for name in READ_FIELDS)
    ]


def required_field_missing(
    shipment: Shipment, extracted: list[ExtractedDocument], _: CargoSettings
) -> list[RuleHit]:
    # A field the document states twice differently is named by ``conflicting_values``;
    # a document nothing was read from, by ``unreadable_document``.
    conflicts = _conflicts_by_sha(shipment)
    hits = []
    for doc in extracted:
        missing = [
            name
            for name in REQUIRED_FIELDS[doc.kind]
            if _missing(doc.fields, name) and name not in conflicts.get(doc.document_sha256, {})
        ]
        if missing and not all(_missing(doc.fields, name) for name in READ_FIELDS):
            hits.append(
                RuleHit(
                    rule="required_field_missing",
                    severity="medium",
                    message=f"the {doc.kind.value} gives no {', '.join(missing)}",
                    documents=[doc.kind],
                )
            )
    return hits


def conflicting_values(
    shipment: Shipment, _: list[ExtractedDocument], __: CargoSettings
) -> list[RuleHit]:
    return [
        RuleHit(
            rule="conflicting_values",
            severity="medium",
            message=(
                f"the {document.kind.value} states {field} more than once, differently: "
                + " / ".join(f"'{value}'" for value in values)
            ),
            documents=[document.kind],
        )
        for document in shipment.documents
        for field, values in conflicting_fields(document.content).items()
    ]


def instruction_like_text(
    shipment: Shipment, _: list[ExtractedDocument], __: CargoSettings
) -> list[RuleHit]:
    hits = []
    for document in shipment.documents:
        screening = screen_text(flatten(document.content))
        if screening.instructions:
            hits.append(
                RuleHit(
                    rule="instruction_like_text",
                    severity="high",
                    message=(
                        f"the {document.kind.value} addresses the system that reads it, not "
                        f"the goods ({PATTERNS_VERSION}): {describe(screening)}"
                    ),
                    documents=[document.kind],
                )
            )
    return hits


def hidden_characters(
    shipment: Shipment, _: list[ExtractedDocument], __: CargoSettings
) -> list[RuleHit]:
    hits = []
    for document in shipment.documents:
        hidden = screen_text(flatten(document.content)).hidden_characters
        if hidden:
            hits.append(
                RuleHit(
                    rule="hidden_characters",
                    severity="medium",
                    message=(
                        f"the {document.kind.value} carries characters a reader cannot see: "
                        f"{', '.join(hidden[:5])}"
                    ),
                    documents=[document.kind],
                )
            )
    return hits


def duplicate_document(
    shipment: Shipment, _: list[ExtractedDocument], __: CargoSettings
) -> list[RuleHit]:
    kinds = [document.kind for document in shipment.documents]
    return [
        RuleHit(
            rule="duplicate_document",
            severity="medium",
            message=f"{kinds.count(kind)} documents claim to be the {kind.value}",
            documents=[kind],
        )
        for kind in dict.fromkeys(kinds)
        if kinds.count(kind) > 1
    ]


def _conflicts_by_sha(shipment: Shipment) -> dict[str, dict[str, list[str]]]:
    return {doc.sha256(): conflicting_fields(doc.content) for doc in shipment.documents}


RULES: tuple[Rule, ...] = (
    missing_document,
    duplicate_document,
    unreadable_document,
    required_field_missing,
    conflicting_values,
    instruction_like_text,
    hidden_characters,
    shipment_reference_mismatch,
    weight_mismatch,
    package_count_mismatch,
    consignee_mismatch,
    shipper_mismatch,
    hs_code_mismatch,
    declared_value_mismatch,
)


def cross_check(
    shipment: Shipment, extracted: list[ExtractedDocument], settings: CargoSettings
) -> CrossCheckResult:
    """Apply every rule; the result names each rule applied and each hit."""
    hits = [hit for rule in RULES for hit in rule(shipment, extracted, settings)]
    return CrossCheckResult(
        ruleset=RULESET, rules_applied=[rule.__name__ for rule in RULES], hits=hits
    )


class CargoRuleActivities:
    """The cross-check, run where the configuration lives."""

    def __init__(self, settings: CargoSettings) -> None:
        self.settings = settings

    @activity.defn(name="cross_check_cargo_documents")
    @with_policy(LOCAL_COMPUTATION)
    async def cross_check_documents(self, request: CrossCheckRequest) -> CrossCheckResult:
        """Cross-check the shipment's documents against each other and the declaration."""
        return cross_check(request.shipment, request.extracted, self.settings)
