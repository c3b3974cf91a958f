"""Sanctions and PEP screening of names: shipment parties for cargo release, applicants for KYC.

Why this is a connector and not a helper: the sanctions list is a system of record owned by
compliance, not by this code. Which list was consulted, in which version and of which date,
with which matcher and threshold is part of the audit trail, so every answer
(:class:`ScreeningResult`) carries them, and every hit its score and the reasons for it.

* :mod:`.models`: what a screening asks and answers, the list interface, its failures;
* :mod:`.names` and :mod:`.matching`: names in any script taken apart and compared part by
  part, with date of birth and country as evidence (the matcher, ``sluice-names/2``);
* :mod:`.index` and :mod:`.lists`: the embedded list, an OpenSanctions export (CSV or
  FollowTheMoney JSON lines) indexed in memory;
* :mod:`.refresh`: an export at a URL or path, reloaded in the background on a schedule;
* :mod:`.yente`: an OpenSanctions / yente compatible match API instead;
* :mod:`.normalise`: the plain normalisation workflow code relies on (kept stable).
"""

from __future__ import annotations

from activities.connectors.sanctions.lists import (
    DEFAULT_LIST_PATH,
    REQUIRED_COLUMNS,
    CsvSanctionsList,
    EmbeddedSanctionsList,
    parse_list,
)
from activities.connectors.sanctions.matching import (
    MATCHER_VERSION,
    NameMatch,
    compare_names,
    score_names,
)
from activities.connectors.sanctions.models import (
    DEFAULT_MAX_HITS_PER_NAME,
    DEFAULT_THRESHOLD,
    ORGANISATION_SCHEMAS,
    PERSON_SCHEMAS,
    ListEntry,
    QueryEvidence,
    SanctionsList,
    ScreeningHit,
    ScreeningKind,
    ScreeningRequestRejected,
    ScreeningResult,
    ScreeningUnavailable,
)
from activities.connectors.sanctions.names import PreparedName, phonetic_key, prepare_name
from activities.connectors.sanctions.refresh import RefreshingSanctionsList
from activities.connectors.sanctions.yente import HttpSanctionsList
from sluice.framework.name_keys import (
    LEGAL_FORM_TOKENS,
    VESSEL_PREFIX_TOKENS,
    normalise_name,
)

#: The matcher's name as the first versions of this module called it.
FUZZY_ALGORITHM = MATCHER_VERSION

__all__ = [
    "DEFAULT_LIST_PATH",
    "DEFAULT_MAX_HITS_PER_NAME",
    "DEFAULT_THRESHOLD",
    "FUZZY_ALGORITHM",
    "LEGAL_FORM_TOKENS",
    "MATCHER_VERSION",
    "ORGANISATION_SCHEMAS",
    "PERSON_SCHEMAS",
    "REQUIRED_COLUMNS",
    "VESSEL_PREFIX_TOKENS",
    "CsvSanctionsList",
    "EmbeddedSanctionsList",
    "HttpSanctionsList",
    "ListEntry",
    "NameMatch",
    "PreparedName",
    "QueryEvidence",
    "RefreshingSanctionsList",
    "SanctionsList",
    "ScreeningHit",
    "ScreeningKind",
    "ScreeningRequestRejected",
    "ScreeningResult",
    "ScreeningUnavailable",
    "compare_names",
    "normalise_name",
    "parse_list",
    "phonetic_key",
    "prepare_name",
    "sanctions_list_from_config",
    "score_names",
]


def sanctions_list_from_config(
    list_path: str | None,
    url: str | None,
    api_key: str | None,
    *,
    list_url: str | None = None,
    refresh_minutes: float | None = None,
) -> SanctionsList:
    """The configured list, first configured first: the match API at ``url``; the export
    at ``list_url``, downloaded on first use; the list file at ``list_path`` (CSV or
    FollowTheMoney JSON lines); otherwise the fictional sample shipped in the repository.
    ``refresh_minutes`` reloads the export or file in the background that often. Blank
    strings (unset environment variables) count as not set."""
    refresh_seconds = refresh_minutes * 60 if refresh_minutes else None
    if url and url.strip():
        return HttpSanctionsList(url.strip(), api_key=(api_key or "").strip() or None)
    if list_url and list_url.strip():
        return RefreshingSanctionsList(list_url.strip(), refresh_seconds=refresh_seconds)
    if list_path and list_path.strip():
        if refresh_seconds:
            return RefreshingSanctionsList(list_path.strip(), refresh_seconds=refresh_seconds)
        return EmbeddedSanctionsList(list_path.strip())
    return EmbeddedSanctionsList(DEFAULT_LIST_PATH)
