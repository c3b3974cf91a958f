"""Cross-check rules for cargo release: explicit, named, versioned.

Each rule is a small function over the shipment and what was read from its documents. The
ruleset's version goes into the audit trail with every hit, so an auditor can tell which
rule, in which version, held a shipment. Change a rule, change ``RULESET``.

Rules run in an activity rather than in workflow code so that their results are recorded in
history: a later rule change cannot alter what a running workflow already decided.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta

from temporalio import activity
from temporalio.common import RetryPolicy

from activities.cargo.models import (
    REQUIRED_DOCUMENTS,
    CrossCheckRequest,
    CrossCheckResult,
    DocumentKind,
    ExtractedDocument,
    RuleHit,
    Shipment,
)
from sluice.activity_policy import ActivityPolicy, with_policy
from sluice.config import CargoSettings

RULESET = "cargo-crosscheck/2026.11.1"

# Pure computation: a failure here is a bug, so retry little and fail visibly.
LOCAL_COMPUTATION = ActivityPolicy(
    start_to_close=timedelta(seconds=10),
    retry=RetryPolicy(maximum_attempts=2),
)

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
    weights = {d.kind: d.fields.gross_weight_kg for d in extracted if d.fields.gross_weight_kg}
    if len(weights) < 2:
        return []
    spread = _spread_percent([w for w in weights.values() if w is not None])
    if spread <= settings.weight_tolerance_percent:
        return []
    listed = ", ".join(f"{kind.value} {weight:g} kg" for kind, weight in weights.items())
    return [
        RuleHit(
            rule="weight_mismatch",
            severity="medium",
            message=(
                f"gross weights differ by {spread:.1f}% "
                f"(tolerance {settings.weight_tolerance_percent:g}%): {listed}"
            ),
            documents=list(weights),
        )
    ]


def package_count_mismatch(
    _: Shipment, extracted: list[ExtractedDocument], settings: CargoSettings
) -> list[RuleHit]:
    counts = {d.kind: d.fields.package_count for d in extracted if d.fields.package_count}
    values = [c for c in counts.values() if c is not None]
    if len(values) < 2 or max(values) - min(values) <= settings.package_count_tolerance:
        return []
    listed = ", ".join(f"{kind.value} {count}" for kind, count in counts.items())
    return [
        RuleHit(
            rule="package_count_mismatch",
            severity="medium",
            message=f"package counts differ: {listed}",
            documents=list(counts),
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
                f"{doc.kind.value} names consignee '{doc.fields.consignee}', "
                f"shipment declares '{shipment.consignee}'"
            ),
            documents=[doc.kind],
        )
        for doc in extracted
        if doc.fields.consignee and _normalise(doc.fields.consignee) != expected
    ]


def hs_code_mismatch(
    _: Shipment, extracted: list[ExtractedDocument], __: CargoSettings
) -> list[RuleHit]:
    # Compare at the six-digit international level: national suffixes legitimately differ.
    by_kind = {
        d.kind: {code[:6] for code in d.fields.hs_codes}
        for d in extracted
        if d.kind in (DocumentKind.COMMERCIAL_INVOICE, DocumentKind.CUSTOMS_DECLARATION)
        and d.fields.hs_codes
    }
    if len(by_kind) < 2 or len({frozenset(codes) for codes in by_kind.values()}) == 1:
        return []
    listed = ", ".join(f"{k.value} {sorted(v)}" for k, v in by_kind.items())
    return [
        RuleHit(
            rule="hs_code_mismatch",
            severity="high",
            message=f"HS codes differ between invoice and declaration: {listed}",
            documents=list(by_kind),
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
                f"{doc.kind.value} refers to shipment '{doc.fields.shipment_id}', "
                f"not '{shipment.shipment_id}'"
            ),
            documents=[doc.kind],
        )
        for doc in extracted
        if doc.fields.shipment_id
        and doc.fields.shipment_id.strip().upper() != shipment.shipment_id.upper()
    ]


RULES: tuple[Rule, ...] = (
    missing_document,
    shipment_reference_mismatch,
    weight_mismatch,
    package_count_mismatch,
    consignee_mismatch,
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
