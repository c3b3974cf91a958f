"""What a screening asks and answers: the models recorded in workflow histories, the list
interface and its failures.

The answer models are decoded from recorded histories, so a field is only ever added with a
default: a screening recorded before the field existed must still decode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

ScreeningKind = Literal["person", "organization", "any"]

DEFAULT_THRESHOLD = 0.85
DEFAULT_MAX_HITS_PER_NAME = 5

PERSON_SCHEMAS = frozenset({"Person"})
#: ``PublicBody`` is a kind of Organization in FollowTheMoney; vessels are screened together
#: with companies because the cargo workflow screens a vessel and its owner side by side.
ORGANISATION_SCHEMAS = frozenset({"Company", "Organization", "LegalEntity", "Vessel", "PublicBody"})


class ScreeningUnavailable(Exception):
    """The list could not be consulted (service down, timeout, refused connection, garbled
    answer). Retryable: the caller should try again later, never treat the names as clear."""


class ScreeningRequestRejected(Exception):
    """The screening service refused the request (bad credentials, unknown dataset, invalid
    query). Not retryable: the same request will fail again until configuration changes."""


class QueryEvidence(BaseModel):
    """What is known about the screened party besides its names. Each fact counts for a
    match when the entry agrees and against it when the entry disagrees; an unknown fact
    counts for nothing."""

    model_config = ConfigDict(extra="forbid")

    birth_date: str | None = Field(
        default=None, description="ISO date or its prefix: 1968-03-14, 1968-03 or 1968"
    )
    countries: list[str] = Field(
        default_factory=list, description="Nationalities or countries, ISO 3166 alpha-2"
    )


class ScreeningHit(BaseModel):
    """One list entry that a screened name resembles closely enough to need review."""

    model_config = ConfigDict(extra="forbid")

    queried_name: str = Field(description="The name as it was submitted for screening")
    matched_name: str = Field(description="The entry's name or alias that matched best")
    entry_id: str
    entry_caption: str = Field(description="The entry's display name")
    entity_schema: str = Field(
        description="FollowTheMoney schema: Person, Company, Organization, Vessel, LegalEntity"
    )
    topics: list[str] = Field(default_factory=list, description="e.g. sanction, role.pep")
    datasets: list[str] = Field(default_factory=list)
    score: float = Field(ge=0.0, le=1.0)
    algorithm: str = Field(description="Method and version that produced the score")
    # Added with the name-part matcher (sluice-names/2); absent in older recordings.
    name_score: float | None = Field(
        default=None, ge=0.0, le=1.0, description="The score of the names alone"
    )
    reasons: list[str] = Field(
        default_factory=list,
        description="Why: which name parts matched how, and the evidence for and against",
    )


class ScreeningResult(BaseModel):
    """The answer of one screening call, with what is needed to reproduce it."""

    model_config = ConfigDict(extra="forbid")

    list_source: str = Field(description="List file name or service URL, never credentials")
    list_version: str
    threshold: float = Field(ge=0.0, le=1.0)
    screened_names: list[str]
    hits: list[ScreeningHit] = Field(default_factory=list)
    # Added with the name-part matcher; absent in older recordings.
    list_date: str | None = Field(
        default=None, description="When the list's publisher last changed it (ISO date)"
    )
    matcher_version: str | None = Field(
        default=None, description="The matcher that compared the names, e.g. sluice-names/2"
    )

    @property
    def is_clear(self) -> bool:
        """True when no screened name resembles any list entry."""
        return not self.hits


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One entry of a list: a person, company, organisation or vessel with its names."""

    entry_id: str
    schema: str
    caption: str
    names: tuple[str, ...]
    topics: tuple[str, ...]
    datasets: tuple[str, ...]
    birth_dates: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()


class SanctionsList(Protocol):
    """A sanctions / PEP list that can screen names."""

    async def screen(
        self,
        names: Sequence[str],
        *,
        kind: ScreeningKind = "any",
        threshold: float = DEFAULT_THRESHOLD,
        evidence: QueryEvidence | None = None,
    ) -> ScreeningResult:
        """Screen ``names`` and return every entry scoring at least ``threshold``.

        ``kind`` limits the entries compared: ``"person"`` only persons, ``"organization"``
        companies, organisations, legal entities and vessels, ``"any"`` everything.
        ``evidence`` (date of birth, countries) raises or lowers the score of an entry that
        agrees or disagrees with it.
        """
        ...
