"""The KYC check rules, as a compliance officer would state them, including properties that
must hold for every name, date and address (hypothesis)."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from activities.kyc.models import (
    AddressProofFields,
    DeclaredApplicant,
    ExtractedKycDocument,
    IdentityFields,
    KycDocumentKind,
    KycSettings,
)
from activities.kyc.rules import RULESET, addresses_match, check_application
from sluice.model_contracts import ModelRecord

AS_OF = date(2026, 11, 21)
SETTINGS = KycSettings(proof_of_address_max_age_days=90)
RECORD = ModelRecord(task="t", provider="p", model="m", prompt="p", prompt_version="v1")
APPLICANT = DeclaredApplicant(
    full_name="Amélie Durand",
    date_of_birth=date(1991, 3, 14),
    nationality="French",
    address="12 Rue des Tanneurs, 69003 Lyon, France",
)


def identity(**fields: object) -> ExtractedKycDocument:
    values: dict[str, object] = {
        "document_number": "21FD83145",
        "full_name": "Amélie Durand",
        "date_of_birth": date(1991, 3, 14),
        "expiry_date": date(2031, 6, 8),
    }
    values.update(fields)
    return ExtractedKycDocument(
        kind=KycDocumentKind.IDENTITY_DOCUMENT,
        document_sha256="0" * 64,
        identity=IdentityFields.model_validate(values),
        model=RECORD,
    )


def proof(**fields: object) -> ExtractedKycDocument:
    values: dict[str, object] = {
        "holder_name": "Amélie Durand",
        "address": "12 rue des Tanneurs, 69003 LYON",
        "issue_date": date(2026, 11, 3),
    }
    values.update(fields)
    return ExtractedKycDocument(
        kind=KycDocumentKind.PROOF_OF_ADDRESS,
        document_sha256="1" * 64,
        address_proof=AddressProofFields.model_validate(values),
        model=RECORD,
    )


def hits(
    *documents: ExtractedKycDocument,
    applicant: DeclaredApplicant = APPLICANT,
    as_of: date = AS_OF,
) -> list[str]:
    result = check_application(applicant, list(documents), as_of, SETTINGS)
    assert result.ruleset == RULESET
    return [hit.rule for hit in result.hits]


def test_matching_documents_raise_nothing_and_every_rule_is_named() -> None:
    result = check_application(APPLICANT, [identity(), proof()], AS_OF, SETTINGS)
    assert result.hits == []
    assert result.rules_applied == [
        "identity_name_mismatch",
        "date_of_birth_mismatch",
        "identity_document_expired",
        "address_mismatch",
        "proof_of_address_holder_mismatch",
        "proof_of_address_too_old",
        "required_field_missing",
        "conflicting_values",
        "instruction_like_text",
        "hidden_characters",
    ]
    assert result.settings["proof_of_address_max_age_days"] == 90


def test_someone_elses_passport_is_a_high_severity_hit() -> None:
    result = check_application(
        APPLICANT, [identity(full_name="Amélie Dupont"), proof()], AS_OF, SETTINGS
    )
    (hit,) = result.hits
    assert (hit.rule, hit.severity) == ("identity_name_mismatch", "high")
    assert "Amélie Dupont" in hit.message


def test_a_middle_name_on_the_passport_is_the_same_person() -> None:
    assert hits(identity(full_name="Amélie Claire DURAND"), proof()) == []


def test_unreadable_expiry_or_issue_date_is_a_hit_not_a_pass() -> None:
    assert hits(identity(expiry_date=None), proof(issue_date=None)) == [
        "identity_document_expired",
        "proof_of_address_too_old",
    ]


def test_bill_dated_in_the_future_is_a_hit() -> None:
    assert hits(identity(), proof(issue_date=AS_OF + timedelta(days=3))) == [
        "proof_of_address_too_old"
    ]


def test_another_house_number_is_another_address() -> None:
    assert hits(identity(), proof(address="14 rue des Tanneurs, 69003 Lyon")) == [
        "address_mismatch"
    ]


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


given_names = st.sampled_from(["Amélie", "Zoë", "José", "Ingrid", "Łukasz", "Siobhán", "Kwame"])
surnames = st.sampled_from(["Durand", "Núñez", "Öztürk", "Nakamura", "O'Brien", "Müller-Lenz"])


@given(
    first=given_names,
    last=surnames,
    reversed_order=st.booleans(),
    case=st.sampled_from([str.upper, str.lower, str.title, str]),
    accents=st.booleans(),
)
def test_names_match_whatever_the_accents_case_and_order(
    first: str, last: str, reversed_order: bool, case: object, accents: bool
) -> None:
    declared = APPLICANT.model_copy(update={"full_name": f"{first} {last}"})
    printed = f"{last} {first}" if reversed_order else f"{first} {last}"
    printed = case(printed)  # type: ignore[operator]
    if not accents:
        printed = _strip_accents(printed)
    assert "identity_name_mismatch" not in hits(
        identity(full_name=printed), proof(holder_name=printed), applicant=declared
    )


@given(born=st.dates(date(1920, 1, 1), date(2008, 12, 31)))
def test_date_of_birth_must_be_exactly_the_declared_one(born: date) -> None:
    found = "date_of_birth_mismatch" in hits(identity(date_of_birth=born), proof())
    assert found == (born != APPLICANT.date_of_birth)


@given(expiry=st.dates(date(2020, 1, 1), date(2035, 12, 31)))
def test_identity_document_is_expired_exactly_when_its_expiry_is_before_the_run_date(
    expiry: date,
) -> None:
    found = "identity_document_expired" in hits(identity(expiry_date=expiry), proof())
    assert found == (expiry < AS_OF)


@given(age=st.integers(min_value=-30, max_value=400))
def test_proof_of_address_is_too_old_exactly_past_the_configured_age(age: int) -> None:
    issued = AS_OF - timedelta(days=age)
    found = "proof_of_address_too_old" in hits(identity(), proof(issue_date=issued))
    assert found == (age < 0 or age > SETTINGS.proof_of_address_max_age_days)


@given(
    number=st.integers(min_value=1, max_value=400),
    street=st.sampled_from(["Acacia Road", "Larkhall Rise", "Rue des Lilas", "Długa Street"]),
    postcode=st.sampled_from(["SW4 6HU", "69003", "80-827", "411 17"]),
    city=st.sampled_from(["London", "Lyon", "Gdańsk", "Göteborg"]),
    other=st.one_of(st.integers(min_value=1, max_value=400), st.sampled_from([80, 827, 17])),
)
def test_addresses_match_across_case_and_abbreviation_but_not_another_number(
    number: int, street: str, postcode: str, city: str, other: int
) -> None:
    declared = f"{number} {street}, {postcode} {city}"
    abbreviated = street.replace("Road", "Rd").replace("Street", "St")
    printed = f"{number} {abbreviated.upper()}, {postcode} {_strip_accents(city).upper()}, EU"
    assert addresses_match(declared, printed)
    if other != number:
        assert not addresses_match(declared, f"{other} {street}, {postcode} {city}")
