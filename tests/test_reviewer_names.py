"""Names are compared in one canonical form: a requester cannot approve their own run by
adding a space or changing case, the allow-list and the four-eyes rule see through case and
width, and invisible or look-alike characters are refused instead of making a new person."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from sluice.config import Settings
from sluice.framework.audit import AuditTrail
from sluice.framework.names import NameRefused, canonical_name
from tests.conftest import example
from tests.support import signed, signed_signal, status_until

SECONDS = 20
M = TypeVar("M", bound=BaseModel)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("alice ", "alice"),
        ("  ALICE", "alice"),
        ("Alice\u00a0", "alice"),
        ("\uff21lice", "alice"),  # fullwidth A
        ("Anna  Marie", "anna marie"),
        ("desk-anna", "desk-anna"),
        ("Zoë", "zoë"),
        ("Straße", "strasse"),
        ("山田 たろう", "山田 たろう"),
    ],
)
def test_names_that_are_one_person_have_one_canonical_form(written: str, canonical: str) -> None:
    assert canonical_name(written) == canonical


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("al\u200bice", "invisible"),  # zero-width space
        ("alice\u200d", "invisible"),  # zero-width joiner
        ("\u202eecila", "invisible"),  # right-to-left override
        ("al\u00adice", "invisible"),  # soft hyphen
        ("alice\n", "invisible"),
        ("\u0430lice", "mixes scripts"),  # Cyrillic а
        ("b\u03bfb", "mixes scripts"),  # Greek ο
        ("x\u0301", "not allowed"),  # a stray combining mark
        ("alice!", "not allowed"),
        ("   ", "blank"),
        ("a" * 121, "at most 120"),
    ],
)
def test_invisible_and_look_alike_names_are_refused(written: str, reason: str) -> None:
    with pytest.raises(NameRefused, match=reason):
        canonical_name(written)


async def start(
    dev_env: WorkflowEnvironment, settings: Settings, process: str, name: str, requested_by: str
) -> WorkflowHandle[Any, Any]:
    document = {**example(process, name), "requested_by": requested_by}
    workflow_type = {"cargo_release": "CargoReleaseWorkflow", "kyc_review": "KycReviewWorkflow"}
    return await dev_env.client.start_workflow(
        workflow_type[process],
        document,
        id=f"names-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal.task_queue,
    )


def spelled(decision: M, reviewer: str) -> M:
    """A signed decision whose envelope names the reviewer in another spelling."""
    return decision.model_copy(update={"reviewer": reviewer})


async def refused_with(handle: WorkflowHandle[Any, Any], count: int) -> list[str]:
    for _ in range(SECONDS * 10):
        trail = await handle.query("audit", result_type=AuditTrail)
        summaries = [e.summary for e in trail.of_kind("decision_refused")]
        if len(summaries) >= count:
            return summaries
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} refusals recorded: {summaries}")


@pytest.mark.parametrize("requested_by", ["alice ", "Alice", " ALICE\u00a0"])
async def test_the_requester_cannot_approve_their_own_run_under_another_spelling(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    requested_by: str,
) -> None:
    async with make_worker(dev_env.client):
        handle = await start(dev_env, settings, "cargo_release", "anomaly", requested_by)
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")

        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                "decide", spelled(await signed(handle, settings, "alice"), "Alice ")
            )
        [signalled] = await refused_with(handle, 1)

        await handle.signal("approve", await signed_signal(handle, settings, "bob"))
        outcome = await asyncio.wait_for(handle.result(), SECONDS)
    assert "reviewer 'alice' started this run and cannot decide it" in signalled
    assert "started this run" in str(refused.value.cause)
    assert outcome["decided_by"] == ["bob"]


async def test_the_allow_list_sees_through_case_and_width_and_records_one_spelling(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await start(dev_env, settings, "cargo_release", "anomaly", "ops-portal")
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
        await handle.signal(
            "approve", spelled(await signed_signal(handle, settings, "bob"), " \uff22OB ")
        )
        outcome = await asyncio.wait_for(handle.result(), SECONDS)
    assert outcome["decided_by"] == ["bob"]


@pytest.mark.parametrize(
    ("reviewer", "reason"),
    [
        ("al\u200bice", "invisible or control character U+200B"),
        ("\u0430lice", "a name mixes scripts (CYRILLIC, LATIN)"),
        ("\u202ebob", "invisible or control character U+202E"),
    ],
    ids=["zero-width space", "cyrillic a", "bidi override"],
)
async def test_a_look_alike_reviewer_is_refused_with_the_reason(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    reviewer: str,
    reason: str,
) -> None:
    async with make_worker(dev_env.client):
        handle = await start(dev_env, settings, "cargo_release", "anomaly", "ops-portal")
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")

        await handle.signal("approve", {"reviewer": reviewer})
        [signalled] = await refused_with(handle, 1)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("decide", {"verdict": "approve", "reviewer": reviewer})

        await handle.signal("approve", await signed_signal(handle, settings, "carol"))
        outcome = await asyncio.wait_for(handle.result(), SECONDS)
    assert f"reviewer name refused: {reason}" in signalled
    assert reason in str(refused.value.cause)
    assert outcome["decided_by"] == ["carol"]


async def test_four_eyes_needs_two_people_not_two_spellings_of_one(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await start(dev_env, settings, "kyc_review", "high_risk", "onboarding-portal")
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")

        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        again = spelled(await signed_signal(handle, settings, "alice"), "ALICE ")
        await handle.signal("approve", again)
        [second] = await refused_with(handle, 1)
        await handle.signal("approve", await signed_signal(handle, settings, "bob"))
        outcome = await asyncio.wait_for(handle.result(), SECONDS)
    assert "reviewer 'alice' has already approved" in second
    assert outcome["action"] == "approved" and outcome["decided_by"] == ["alice", "bob"]


async def test_a_run_whose_requester_name_is_refused_fails_at_once(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await start(dev_env, settings, "kyc_review", "low_risk", "b\u200bob")
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), SECONDS)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.non_retryable
    assert cause.type == "InvalidInput"
    assert "requested_by: invisible or control character U+200B" in cause.message
