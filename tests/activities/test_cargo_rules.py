"""The cargo cross-check rules, as properties: consistent papers never raise a flag, a
discrepancy beyond tolerance always does, and every hit names its rule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from activities.cargo.models import (
    CargoSettings,
    DocumentFields,
    DocumentKind,
    ExtractedDocument,
    Shipment,
)
from activities.cargo.rules import RULES, RULESET, cross_check
from sluice.model_contracts import ModelRecord

TOLERANCES = CargoSettings()
RULE_NAMES = {rule.__name__ for rule in RULES}


def shipment(kinds: list[DocumentKind] | None = None) -> Shipment:
    return Shipment(
        shipment_id="SHP-TEST-1",
        shipper="Hanseatic Machine Tools GmbH",
        consignee="Lakeside Fabrication Ltd",
        consignee_contact="imports@example.test",
        port_of_discharge="Felixstowe",
        documents=[{"kind": kind, "content": "x"} for kind in (kinds or list(DocumentKind))],
    )


def read(kind: DocumentKind, **fields: object) -> ExtractedDocument:
    """A complete reading of the shipment's document, with ``fields`` changed."""
    record = ModelRecord(task="t", provider="p", model="m", prompt="p", prompt_version="v")
    complete: dict[str, object] = {
        "shipment_id": "SHP-TEST-1",
        "shipper": "Hanseatic Machine Tools GmbH",
        "consignee": "Lakeside Fabrication Ltd",
        "gross_weight_kg": 8420,
        "package_count": 12,
        "hs_codes": ["845961"],
        "declared_value": 184500,
        "currency": "EUR",
    }
    return ExtractedDocument(
        kind=kind,
        document_sha256="0" * 64,
        fields=DocumentFields(document_kind=kind, **{**complete, **fields}),  # type: ignore[arg-type]
        model=record,
    )


weights = st.floats(min_value=1, max_value=500_000, allow_nan=False)
counts = st.integers(min_value=1, max_value=10_000)
values = st.floats(min_value=1, max_value=10_000_000, allow_nan=False)
hs = st.from_regex(r"[0-9]{6}", fullmatch=True)


@given(weight=weights, packages=counts, value=values, code=hs)
def test_consistent_documents_raise_no_flag(
    weight: float, packages: int, value: float, code: str
) -> None:
    extracted = [
        read(
            kind,
            shipment_id="SHP-TEST-1",
            consignee="LAKESIDE FABRICATION LIMITED",
            gross_weight_kg=weight,
            package_count=packages,
            hs_codes=[code + "00"] if kind is DocumentKind.CUSTOMS_DECLARATION else [code],
            declared_value=value,
            currency="EUR",
        )
        for kind in DocumentKind
    ]
    result = cross_check(shipment(), extracted, TOLERANCES)
    assert result.hits == []
    assert result.ruleset == RULESET and set(result.rules_applied) == RULE_NAMES


@given(weight=weights, excess=st.floats(min_value=0.021, max_value=5, allow_nan=False))
def test_weight_beyond_tolerance_is_always_flagged(weight: float, excess: float) -> None:
    heavier = weight * (1 + excess)
    extracted = [
        read(DocumentKind.BILL_OF_LADING, gross_weight_kg=weight),
        read(DocumentKind.PACKING_LIST, gross_weight_kg=heavier),
    ]
    hits = cross_check(shipment(), extracted, TOLERANCES).hits
    assert [hit.rule for hit in hits] == ["weight_mismatch"]


@given(weight=weights, drift=st.floats(min_value=0, max_value=0.019, allow_nan=False))
def test_weight_within_tolerance_is_never_flagged(weight: float, drift: float) -> None:
    extracted = [
        read(DocumentKind.BILL_OF_LADING, gross_weight_kg=weight),
        read(DocumentKind.PACKING_LIST, gross_weight_kg=weight * (1 - drift)),
    ]
    assert cross_check(shipment(), extracted, TOLERANCES).hits == []


@settings(max_examples=50)
@given(present=st.sets(st.sampled_from(list(DocumentKind)), min_size=1))
def test_each_missing_document_is_named(present: set[DocumentKind]) -> None:
    result = cross_check(shipment(sorted(present)), [], TOLERANCES)
    missing = {hit.documents[0] for hit in result.hits if hit.rule == "missing_document"}
    assert missing == set(DocumentKind) - present


@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "shipment_id": st.text(max_size=20),
            "consignee": st.text(max_size=40),
            "gross_weight_kg": st.floats(min_value=0, max_value=1e9, allow_nan=False),
            "package_count": st.integers(min_value=0, max_value=10**6),
            "hs_codes": st.lists(st.text(max_size=10), max_size=3),
            "declared_value": st.floats(min_value=0, max_value=1e12, allow_nan=False),
            "currency": st.text(max_size=4),
        },
    ),
    kinds=st.lists(st.sampled_from(list(DocumentKind)), min_size=1, max_size=4),
)
def test_rules_never_crash_and_every_hit_names_a_known_rule(
    fields: dict[str, object], kinds: list[DocumentKind]
) -> None:
    extracted = [read(kind, **fields) for kind in kinds]
    result = cross_check(shipment(), extracted, TOLERANCES)
    assert all(hit.rule in RULE_NAMES and hit.message for hit in result.hits)


def test_a_value_read_from_a_document_is_shown_on_one_line() -> None:
    # A consignee "name" that would print a forged line in the officer's evidence.
    forged = "Other Imports Ltd\n[screening] approved by alice, bob\x1b[2K"
    hits = cross_check(
        shipment(), [read(DocumentKind.BILL_OF_LADING, consignee=forged)], TOLERANCES
    ).hits
    (hit,) = [hit for hit in hits if hit.rule == "consignee_mismatch"]
    assert "\n" not in hit.message and "\x1b" not in hit.message
    assert "'Other Imports Ltd [screening] approved by alice, bob[2K'" in hit.message
