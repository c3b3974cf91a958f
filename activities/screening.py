"""Screening parties against sanctions and PEP lists, as an activity.

The list itself is a connector (``activities.connectors.sanctions``): a shipped list file by
default, an OpenSanctions export or an OpenSanctions-compatible match API when configured.

Screening is an activity, never workflow code: its result (hits, scores, reasons, the list's
version and date, the matcher's version) is recorded in the run's history, so a matcher
improved while a run waits for a reviewer does not change what that run decided on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.connectors.http import SYSTEM_REJECTED, SYSTEM_UNAVAILABLE
from activities.connectors.sanctions import (
    QueryEvidence,
    SanctionsList,
    ScreeningRequestRejected,
    ScreeningResult,
    ScreeningUnavailable,
)
from sluice.activity_policy import ActivityPolicy, system_of_record_retry, with_policy

# A screening service outage must not let a party through unscreened: retry for a while,
# then fail the step so the run stops rather than deciding without a screening. A read, and a
# quick one (the list's index in the worker's memory, or one call to the match API), so it
# runs as a local activity: the retries wait in the worker, the run's history gets a marker.
SCREENING_CALL = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=system_of_record_retry(5),
    local=True,
)


class ScreeningRequest(BaseModel):
    """Names of one party (or of several parties of one kind), and what else is known."""

    names: list[str] = Field(min_length=1)
    kind: Literal["person", "organization", "any"] = "any"
    # Added with the name-part matcher; absent in older recordings (no evidence).
    evidence: QueryEvidence | None = None


class ScreeningActivities:
    def __init__(self, sanctions: SanctionsList, threshold: float) -> None:
        self.sanctions = sanctions
        self.threshold = threshold

    @activity.defn(name="screen_names")
    @with_policy(SCREENING_CALL)
    async def screen_names(self, request: ScreeningRequest) -> ScreeningResult:
        """Screen names against the configured sanctions and PEP list."""
        try:
            return await self.sanctions.screen(
                request.names,
                kind=request.kind,
                threshold=self.threshold,
                evidence=request.evidence,
            )
        except ScreeningUnavailable as err:
            raise ApplicationError(str(err), type=SYSTEM_UNAVAILABLE) from err
        except ScreeningRequestRejected as err:
            raise ApplicationError(str(err), type=SYSTEM_REJECTED, non_retryable=True) from err
        except (ValueError, TypeError) as err:
            # A name that cannot be screened (empty, absurdly long) fails the same way every
            # time: stop at once, so the run fails visibly instead of retrying.
            raise ApplicationError(
                f"names refused for screening: {err}", type=SYSTEM_REJECTED, non_retryable=True
            ) from err
