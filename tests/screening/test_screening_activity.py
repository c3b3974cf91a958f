"""The screening activity KYC and cargo call: the applicant's date of birth as evidence,
and requests and answers recorded before the name-part matcher still decoding."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.connectors.sanctions import (
    MATCHER_VERSION,
    EmbeddedSanctionsList,
    QueryEvidence,
    ScreeningResult,
)
from activities.screening import ScreeningActivities, ScreeningRequest

SCREENING = ScreeningActivities(EmbeddedSanctionsList(), threshold=0.85)


async def screen(request: ScreeningRequest) -> ScreeningResult:
    result: ScreeningResult = await ActivityEnvironment().run(SCREENING.screen_names, request)
    return result


async def test_the_listed_date_of_birth_confirms_the_demo_hit() -> None:
    result = await screen(
        ScreeningRequest(
            names=["Jon Smyth"], kind="person", evidence=QueryEvidence(birth_date="1968-03-14")
        )
    )

    [hit] = result.hits
    assert (hit.entry_id, hit.name_score, hit.score) == ("sample-p-0001", 0.95, 1.0)
    assert "same date of birth 1968-03-14 (+0.05)" in hit.reasons
    assert result.matcher_version == MATCHER_VERSION
    assert result.list_date == "2024-09-18"


async def test_a_namesake_born_decades_later_is_clear() -> None:
    result = await screen(
        ScreeningRequest(
            names=["Jon Smyth"], kind="person", evidence=QueryEvidence(birth_date="1994-05-01")
        )
    )
    assert result.is_clear


async def test_without_evidence_the_names_alone_decide() -> None:
    result = await screen(ScreeningRequest(names=["Jon Smyth"], kind="person"))
    assert [h.score for h in result.hits] == [0.95]


def test_request_and_answer_recorded_before_the_matcher_change_still_decode() -> None:
    request = ScreeningRequest.model_validate({"names": ["Jon Smyth"], "kind": "person"})
    assert request.evidence is None
    recorded = {
        "list_source": "sanctions_sample.csv",
        "list_version": "sha256:0123456789abcdef;rows:61",
        "threshold": 0.85,
        "screened_names": ["Jon Smyth"],
        "hits": [
            {
                "queried_name": "Jon Smyth",
                "matched_name": "John Smith",
                "entry_id": "sample-p-0001",
                "entry_caption": "John Smith",
                "entity_schema": "Person",
                "topics": ["sanction"],
                "datasets": ["us_ofac_sdn"],
                "score": 0.95,
                "algorithm": "sluice-fuzzy/1",
            }
        ],
    }
    result = ScreeningResult.model_validate(recorded)
    assert result.matcher_version is None and result.hits[0].reasons == []
    assert result.hits[0].algorithm == "sluice-fuzzy/1"


async def test_a_name_that_is_not_a_name_is_refused_for_good() -> None:
    for names in (["x" * 5_000], ["  --  "], ["Jon Smyth", "\u0000\u0001"]):
        with pytest.raises(ApplicationError, match="refused for screening") as raised:
            await screen(ScreeningRequest(names=names, kind="person"))
        assert raised.value.non_retryable and raised.value.type == "SystemOfRecordRejected"
