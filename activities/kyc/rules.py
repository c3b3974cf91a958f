"""KYC check rules: explicit, named, versioned.

Each rule is a small function over the declared applicant, what was read from the documents,
the run's date and the configured limits. The ruleset's version goes into the audit trail
with every hit, so an auditor can tell which rule, in which version, held an application.
Change a rule, change ``RULESET``. A required field not read, a field stated twice
differently and text addressed to the reader are hits too: a person decides, never the
policy's automatic approval.

Names are compared the way the sanctions screening compares them (``normalise_name`` and
``score_names``): accents, letter case, punctuation and the order of names do not matter.
The date a rule judges by is the run's date, passed in, never the clock's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import date

from rapidfuzz import fuzz
from temporalio import activity

from activities.connectors.sanctions import normalise_name, score_names
from activities.kyc.models import (
    AddressProofFields,
    DeclaredApplicant,
    ExtractedKycDocument,
    IdentityFields,
    KycCheckRequest,
    KycCheckResult,
    KycDocumentKind,
    KycRuleHit,
    KycSettings,
)
from activities.text_screening import describe, quote_value
from sluice.activity_policy import LOCAL_COMPUTATION, with_policy

RULESET = "kyc-checks/2026.12.1"

# Fields each document must carry. The date of birth and the expiry date have rules of
# their own that name a missing value (``date_of_birth_mismatch``, ``identity_document_
# expired``), as do the address and issue date of a proof of address.
REQUIRED_FIELDS: dict[KycDocumentKind, tuple[str, ...]] = {
    KycDocumentKind.IDENTITY_DOCUMENT: ("full_name", "document_number"),
    KycDocumentKind.PROOF_OF_ADDRESS: ("holder_name",),
}


# Two addresses are the same when they hold the same numbers (house, flat, postcode digits)
# and their words agree at least this much (0..100).
ADDRESS_WORDS_MIN = 85.0
# Street-type abbreviations, so "12 Acacia Rd" and "12 Acacia Road" are one address.
_ABBREVIATIONS = {
    "rd": "road",
    "st": "street",
    "str": "strasse",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "dr": "drive",
    "ct": "court",
    "pl": "place",
    "sq": "square",
    "apt": "apartment",
    "flat": "apartment",
    "bd": "boulevard",
    "blvd": "boulevard",
}

Rule = Callable[[DeclaredApplicant, "DocumentsRead", date, KycSettings], list[KycRuleHit]]


class DocumentsRead:
    """The fields read from each document, by kind (a document not read is None)."""

    def __init__(self, documents: list[ExtractedKycDocument]) -> None:
        self.documents = documents
        by_kind = {document.kind: document for document in documents}
        identity = by_kind.get(KycDocumentKind.IDENTITY_DOCUMENT)
        address = by_kind.get(KycDocumentKind.PROOF_OF_ADDRESS)
        self.identity: IdentityFields | None = identity.identity if identity else None
        self.address_proof: AddressProofFields | None = address.address_proof if address else None


def names_match(declared: str, on_document: str, threshold: float) -> bool:
    """Whether two person names are the same name, as the sanctions screening judges it."""
    return score_names(declared, on_document, kind="person") >= threshold


def normalise_address(address: str) -> str:
    words = normalise_name(address).split()
    return " ".join(_ABBREVIATIONS.get(word, word) for word in words)


def addresses_match(declared: str, on_document: str) -> bool:
    """The same numbers, and the words agree (order, case, accents and punctuation aside;
    either may add words such as the country)."""
    mine, theirs = normalise_address(declared), normalise_address(on_document)
    if Counter(re.findall(r"\d+", mine)) != Counter(re.findall(r"\d+", theirs)):
        return False
    return fuzz.token_set_ratio(mine, theirs) >= ADDRESS_WORDS_MIN


def identity_name_mismatch(
    applicant: DeclaredApplicant, read: DocumentsRead, _: date, settings: KycSettings
) -> list[KycRuleHit]:
    if read.identity is None or not read.identity.full_name:
        return []
    if names_match(applicant.full_name, read.identity.full_name, settings.name_match_threshold):
        return []
    return [
        KycRuleHit(
            rule="identity_name_mismatch",
            severity="high",
            message=(
                f"the identity document names '{quote_value(read.identity.full_name)}', "
                f"the application declares '{applicant.full_name}'"
            ),
            document=KycDocumentKind.IDENTITY_DOCUMENT,
        )
    ]


def date_of_birth_mismatch(
    applicant: DeclaredApplicant, read: DocumentsRead, _: date, __: KycSettings
) -> list[KycRuleHit]:
    if read.identity is None:
        return []
    on_document = read.identity.date_of_birth
    if on_document == applicant.date_of_birth:
        return []
    shown = on_document.isoformat() if on_document else "no readable date of birth"
    return [
        KycRuleHit(
            rule="date_of_birth_mismatch",
            severity="high",
            message=(
                f"the identity document shows {shown}, "
                f"the application declares {applicant.date_of_birth.isoformat()}"
            ),
            document=KycDocumentKind.IDENTITY_DOCUMENT,
        )
    ]


def identity_document_expired(
    _: DeclaredApplicant, read: DocumentsRead, as_of: date, __: KycSettings
) -> list[KycRuleHit]:
    if read.identity is None:
        return []
    expiry = read.identity.expiry_date
    if expiry is not None and expiry >= as_of:
        return []
    message = (
        f"the identity document expired on {expiry.isoformat()} (checked {as_of.isoformat()})"
        if expiry
        else "the identity document's expiry date could not be read"
    )
    return [
        KycRuleHit(
            rule="identity_document_expired",
            severity="medium",
            message=message,
            document=KycDocumentKind.IDENTITY_DOCUMENT,
        )
    ]


def address_mismatch(
    applicant: DeclaredApplicant, read: DocumentsRead, _: date, __: KycSettings
) -> list[KycRuleHit]:
    proof = read.address_proof
    if proof is None or not proof.address or addresses_match(applicant.address, proof.address):
        return []
    return [
        KycRuleHit(
            rule="address_mismatch",
            severity="medium",
            message=(
                f"the proof of address shows '{quote_value(proof.address)}', "
                f"the application declares '{applicant.address}'"
            ),
            document=KycDocumentKind.PROOF_OF_ADDRESS,
        )
    ]


def proof_of_address_holder_mismatch(
    applicant: DeclaredApplicant, read: DocumentsRead, _: date, settings: KycSettings
) -> list[KycRuleHit]:
    proof = read.address_proof
    if proof is None or not proof.holder_name:
        return []
    if names_match(applicant.full_name, proof.holder_name, settings.name_match_threshold):
        return []
    return [
        KycRuleHit(
            rule="proof_of_address_holder_mismatch",
            severity="medium",
            message=f"the proof of address is addressed to '{quote_value(proof.holder_name)}'",
            document=KycDocumentKind.PROOF_OF_ADDRESS,
        )
    ]


def proof_of_address_too_old(
    _: DeclaredApplicant, read: DocumentsRead, as_of: date, settings: KycSettings
) -> list[KycRuleHit]:
    proof = read.address_proof
    if proof is None:
        return []
    limit = settings.proof_of_address_max_age_days
    issued = proof.issue_date
    if issued is not None and 0 <= (as_of - issued).days <= limit:
        return []
    if issued is None:
        message = "the proof of address has no readable issue date"
    elif issued > as_of:
        message = f"the proof of address is dated in the future ({issued.isoformat()})"
    else:
        message = (
            f"the proof of address was issued {issued.isoformat()}, "
            f"{(as_of - issued).days} days ago (at most {limit} allowed)"
        )
    return [
        KycRuleHit(
            rule="proof_of_address_too_old",
            severity="medium",
            message=message,
            document=KycDocumentKind.PROOF_OF_ADDRESS,
        )
    ]


def required_field_missing(
    _: DeclaredApplicant, read: DocumentsRead, __: date, ___: KycSettings
) -> list[KycRuleHit]:
    hits = []
    for document in read.documents:
        fields = document.identity or document.address_proof
        missing = [
            name
            for name in REQUIRED_FIELDS[document.kind]
            if fields is not None
            and not getattr(fields, name)
            and name not in document.conflicts
            # The offline reader joins given names and surname into the full name.
            and not (name == "full_name" and {"given_names", "surname"} & set(document.conflicts))
        ]
        if missing:
            hits.append(
                KycRuleHit(
                    rule="required_field_missing",
                    severity="medium",
                    message=f"the {document.kind.value} gives no {', '.join(missing)}",
                    document=document.kind,
                )
            )
    return hits


def conflicting_values(
    _: DeclaredApplicant, read: DocumentsRead, __: date, ___: KycSettings
) -> list[KycRuleHit]:
    return [
        KycRuleHit(
            rule="conflicting_values",
            severity="medium",
            message=(
                f"the {document.kind.value} states {field} more than once, differently: "
                + " / ".join(f"'{value}'" for value in values)
            ),
            document=document.kind,
        )
        for document in read.documents
        for field, values in document.conflicts.items()
    ]


def instruction_like_text(
    _: DeclaredApplicant, read: DocumentsRead, __: date, ___: KycSettings
) -> list[KycRuleHit]:
    # High: a document that talks to its reader is a sign of fraud, so four eyes look at it.
    return [
        KycRuleHit(
            rule="instruction_like_text",
            severity="high",
            message=(
                f"the {document.kind.value} addresses the system that reads it "
                f"({document.screening.patterns_version}): {describe(document.screening)}"
            ),
            document=document.kind,
        )
        for document in read.documents
        if document.screening is not None and document.screening.instructions
    ]


def hidden_characters(
    _: DeclaredApplicant, read: DocumentsRead, __: date, ___: KycSettings
) -> list[KycRuleHit]:
    return [
        KycRuleHit(
            rule="hidden_characters",
            severity="medium",
            message=(
                f"the {document.kind.value} carries characters a reader cannot see: "
                f"{', '.join(document.screening.hidden_characters[:5])}"
            ),
            document=document.kind,
        )
        for document in read.documents
        if document.screening is not None and document.screening.hidden_characters
    ]


RULES: tuple[Rule, ...] = (
    identity_name_mismatch,
    date_of_birth_mismatch,
    identity_document_expired,
    address_mismatch,
    proof_of_address_holder_mismatch,
    proof_of_address_too_old,
    required_field_missing,
    conflicting_values,
    instruction_like_text,
    hidden_characters,
)


def check_application(
    applicant: DeclaredApplicant,
    documents: list[ExtractedKycDocument],
    as_of: date,
    settings: KycSettings,
) -> KycCheckResult:
    """Apply every rule; the result names each rule applied, the limits used and each hit."""
    read = DocumentsRead(documents)
    hits = [hit for rule in RULES for hit in rule(applicant, read, as_of, settings)]
    return KycCheckResult(
        ruleset=RULESET,
        rules_applied=[rule.__name__ for rule in RULES],
        settings={
            "proof_of_address_max_age_days": settings.proof_of_address_max_age_days,
            "name_match_threshold": settings.name_match_threshold,
            "address_words_min": ADDRESS_WORDS_MIN,
        },
        hits=hits,
    )


class KycRuleActivities:
    """The KYC checks, run where the configuration lives."""

    def __init__(self, settings: KycSettings) -> None:
        self.settings = settings

    @activity.defn(name="check_kyc_documents")
    @with_policy(LOCAL_COMPUTATION)
    async def check_documents(self, request: KycCheckRequest) -> KycCheckResult:
        """Check the documents against the declaration, as of the run's date."""
        return check_application(request.applicant, request.documents, request.as_of, self.settings)
