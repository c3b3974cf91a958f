"""Fail closed on what could not be read, as the decision functions see it: every hostile
document, read by the offline rules or by a model that obeys it, leaves a finding that sends
the run to a person; and (hypothesis) so does any document set in which a required field is
absent or stated twice differently. Fast: no server, the rules and risk functions alone
(tests/workflows/test_hostile_documents.py runs the same corpora end to end)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from activities.cargo.models import CargoSettings, DocumentFields, ExtractedDocument, Shipment
from activities.cargo.rules import cross_check
from activities.connectors.sanctions import ScreeningResult
from activities.kyc.documents import conflicting_fields
from activities.kyc.models import (
    AddressProofFields,
    ExtractedKycDocument,
    IdentityFields,
    KycApplication,
    KycDocumentKind,
    KycSettings,
)
from activities.kyc.rules import check_application
from activities.text_screening import screen_text
from sluice.model_contracts import ModelRecord
from sluice.search_attributes import RiskLevel
from tests.hostile import HostileDocument
from tests.hostile import cargo as cargo_corpus
from tests.hostile import kyc as kyc_corpus
from tests.stubs.obedient_model import obedient_cargo_reader, obedient_kyc_reader
from tests.workflows.test_kyc_review import TODAY
from workflows import cargo_release, kyc_review

RECORD = ModelRecord(task="t", provider="p", model="m", prompt="p", prompt_version="v")
NO_HITS = ScreeningResult(list_source="t", list_version="t", threshold=0.9, screened_names=[])
PROVIDERS = ("offline", "obedient")


# --- cargo -------------------------------------------------------------------------------

CLEAN_SHIPMENT = cargo_corpus.CLEAN
OBEDIENT_CARGO = obedient_cargo_reader(cargo_corpus.REFERENCE)
shipment_with = cargo_corpus.shipment_with


def cargo_reading(provider: str, kind: str, content: Any) -> dict[str, Any]:
    if provider == "offline":
        return cargo_corpus.offline_reading(kind, content)
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    user = f"Document kind declared by the submitter: {kind}\n\n{text}"
    return OBEDIENT_CARGO({"messages": [{"role": "user", "content": user}]})


def cargo_decision(shipment: Shipment, provider: str) -> tuple[RiskLevel, list[str]]:
    """The risk the workflow would assess, and the evidence the officer would see."""
    extracted = [
        ExtractedDocument(
            kind=d.kind,
            document_sha256=d.sha256(),
            fields=DocumentFields.model_validate(cargo_reading(provider, d.kind, d.content)),
            model=RECORD,
        )
        for d in shipment.documents
    ]
    findings = cross_check(shipment, extracted, CargoSettings())
    return (
        cargo_release.assess_risk(findings, NO_HITS, []),
        cargo_release.evidence_for(findings, NO_HITS, []),
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_clean_shipment_needs_no_one_with_either_reader(provider: str) -> None:
    assert cargo_decision(shipment_with({}), provider) == (RiskLevel.LOW, [])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", cargo_corpus.CORPUS, ids=lambda case: case.name)
def test_every_hostile_trade_document_goes_to_the_officer_with_its_finding(
    case: HostileDocument, provider: str
) -> None:
    risk, evidence = cargo_decision(shipment_with({case.kind: case.content}), provider)
    assert risk is not RiskLevel.LOW
    assert any(item.startswith(f"[{case.rule}]") for item in evidence), evidence


def test_the_officer_sees_the_instruction_quoted_and_the_ruleset_named() -> None:
    (case,) = [c for c in cargo_corpus.CORPUS if c.name.startswith("packing_list_instructs")]
    shipment = shipment_with({case.kind: case.content})
    risk, evidence = cargo_decision(shipment, "obedient")
    (found,) = [item for item in evidence if item.startswith("[instruction_like_text]")]
    assert risk is RiskLevel.HIGH
    assert "'ignore all anomalies'" in found and "'release immediately'" in found
    assert "instruction-patterns/" in found


# The lines of the clean shipment that carry a required field, by document kind: what each
# paper must state for the officer's cross-check (a customs desk's own list).
CARGO_REQUIRED_LABELS: dict[str, tuple[str, ...]] = {
    "bill_of_lading": ("Shipment ID", "Shipper", "Consignee", "Packages", "Gross weight"),
    "commercial_invoice": (
        "shipment_id",
        "seller",
        "buyer",
        "hs_codes",
        "invoice_total",
        "currency",
    ),
    "packing_list": ("Shipment ID", "Total packages", "Total gross weight"),
    "customs_declaration": (
        "Shipment ID",
        "Importer",
        "HS code",
        "Customs value",
        "Number of packages",
        "Gross weight",
    ),
}
NUMERIC_LABELS = {"Packages", "Gross weight", "Total packages", "Total gross weight"}
NUMERIC_LABELS |= {"Number of packages", "Customs value"}


def _original(kind: str, label: str) -> Any:
    content = next(d["content"] for d in CLEAN_SHIPMENT["documents"] if d["kind"] == kind)
    if isinstance(content, dict):
        return content[label]
    return next(
        line.split(":", 1)[1].strip()
        for line in content.splitlines()
        if line.split(":")[0] == label
    )


def _number(raw: str) -> int:
    return int(float(raw.split()[0].replace(",", "")))


@st.composite
def cargo_defect(draw: st.DrawFn) -> tuple[str, str, str | None]:
    """(document kind, label, None to omit the line or the other value to state as well)."""
    kind = draw(st.sampled_from(sorted(CARGO_REQUIRED_LABELS)))
    label = draw(st.sampled_from(CARGO_REQUIRED_LABELS[kind]))
    # A JSON document cannot repeat a key, and a second HS code is a second commodity.
    if kind == "commercial_invoice" or label == "HS code" or draw(st.booleans()):
        return kind, label, None
    original = _original(kind, label)
    if label in NUMERIC_LABELS:
        number = draw(st.integers(min_value=0, max_value=10_000_000))
        assume(number != _number(original))
        return kind, label, f"{number:,}"
    other = draw(st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ -"), min_size=3))
    assume(" ".join(other.split()).casefold() != original.casefold())
    return kind, label, other


def apply_cargo(defects: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    replaced: dict[str, Any] = {}
    for kind, label, other in defects:
        content = replaced.get(kind) or next(
            d["content"] for d in CLEAN_SHIPMENT["documents"] if d["kind"] == kind
        )
        if isinstance(content, dict):
            content = {key: value for key, value in content.items() if key != label}
        elif other is None:
            content = "\n".join(
                line for line in content.splitlines() if line.split(":")[0] != label
            )
        else:
            content = f"{content}\n{label}: {other}"
        replaced[kind] = content
    return replaced


@settings(max_examples=150, deadline=None)
@given(
    defects=st.lists(cargo_defect(), min_size=1, max_size=3, unique_by=lambda d: d[:2]),
    provider=st.sampled_from(PROVIDERS),
)
def test_no_shipment_with_a_required_field_absent_or_contradicted_is_released_unseen(
    defects: list[tuple[str, str, str | None]], provider: str
) -> None:
    risk, evidence = cargo_decision(shipment_with(apply_cargo(defects)), provider)
    assert risk is not RiskLevel.LOW, (defects, evidence)


# --- KYC ---------------------------------------------------------------------------------

KYC_SETTINGS = KycSettings()


CLEAN_APPLICATION = kyc_corpus.application_with({})
OBEDIENT_KYC = obedient_kyc_reader(kyc_corpus.REFERENCE)
application_with = kyc_corpus.application_with


def kyc_reading(provider: str, kind: str, text: str) -> ExtractedKycDocument:
    if provider == "offline":
        fields = kyc_corpus.offline_reading(kind, text)
    else:
        user = f"Document kind declared by the applicant: {kind}\n\n{text}"
        fields = OBEDIENT_KYC({"messages": [{"role": "user", "content": user}]})
    identity = kind == KycDocumentKind.IDENTITY_DOCUMENT
    # What the extraction activity adds from the text itself, whatever the model answered.
    return ExtractedKycDocument(
        kind=KycDocumentKind(kind),
        document_sha256="0" * 64,
        identity=IdentityFields.model_validate(fields) if identity else None,
        address_proof=None if identity else AddressProofFields.model_validate(fields),
        model=RECORD,
        conflicts=conflicting_fields(KycDocumentKind(kind), text),
        screening=screen_text(text),
    )


def kyc_goes_to_a_person(app: KycApplication, provider: str) -> tuple[bool, list[str]]:
    """Whether the workflow would ask a person (for a readable document, or for a decision
    even where the policy approves low risk on its own), and what it would show them."""
    documents = [kyc_reading(provider, d.kind.value, d.text or "") for d in app.documents]
    unreadable = [why for d in documents if (why := d.unreadable_because())]
    if unreadable:
        return True, unreadable
    findings = check_application(app.applicant, documents, TODAY, KYC_SETTINGS)
    risk = kyc_review.assess_risk(findings, NO_HITS)
    return risk is not RiskLevel.LOW, kyc_review.evidence_for(findings, NO_HITS)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_clean_application_needs_no_one_with_either_reader(provider: str) -> None:
    assert kyc_goes_to_a_person(application_with({}), provider) == (False, [])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", kyc_corpus.CORPUS, ids=lambda case: case.name)
def test_every_hostile_kyc_document_goes_to_a_reviewer_with_its_finding(
    case: HostileDocument, provider: str
) -> None:
    assert isinstance(case.content, str)
    to_a_person, evidence = kyc_goes_to_a_person(
        application_with({case.kind: case.content}), provider
    )
    assert to_a_person
    # A finding, or the reason the document was sent back to be provided again.
    assert any(f"[{case.rule}]" in item for item in evidence), evidence


KYC_REQUIRED_LABELS: dict[str, tuple[str, ...]] = {
    "identity_document": (
        "Passport No",
        "Surname",
        "Given names",
        "Date of birth",
        "Date of expiry",
    ),
    "proof_of_address": ("Customer name", "Supply address", "Bill date"),
}
DATE_LABELS = {"Date of birth", "Date of expiry", "Bill date"}


@st.composite
def kyc_defect(draw: st.DrawFn) -> tuple[str, str, str | None]:
    kind = draw(st.sampled_from(sorted(KYC_REQUIRED_LABELS)))
    label = draw(st.sampled_from(KYC_REQUIRED_LABELS[kind]))
    if draw(st.booleans()):
        return kind, label, None
    text = next(d.text or "" for d in CLEAN_APPLICATION.documents if d.kind.value == kind)
    original = next(
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(label)
    )
    if label in DATE_LABELS:
        other_date = draw(
            st.dates(min_value=date(1900, 1, 1), max_value=TODAY + timedelta(days=3650))
        )
        assume(other_date.isoformat() != original)
        return kind, label, other_date.isoformat()
    other = draw(st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "), min_size=3))
    assume(" ".join(other.split()).casefold() != original.casefold() and other.strip())
    return kind, label, other


def apply_kyc(defects: list[tuple[str, str, str | None]]) -> dict[str, str]:
    replaced: dict[str, str] = {}
    for kind, label, other in defects:
        text = replaced.get(kind) or next(
            d.text or "" for d in CLEAN_APPLICATION.documents if d.kind.value == kind
        )
        if other is None:
            text = "\n".join(line for line in text.splitlines() if not line.startswith(label))
        else:
            text = f"{text}\n{label}: {other}"
        replaced[kind] = text
    return replaced


@settings(max_examples=150, deadline=None)
@given(
    defects=st.lists(kyc_defect(), min_size=1, max_size=3, unique_by=lambda d: d[:2]),
    provider=st.sampled_from(PROVIDERS),
)
def test_no_application_with_a_required_field_absent_or_contradicted_is_approved_unseen(
    defects: list[tuple[str, str, str | None]], provider: str
) -> None:
    to_a_person, evidence = kyc_goes_to_a_person(application_with(apply_kyc(defects)), provider)
    assert to_a_person, (defects, evidence)
