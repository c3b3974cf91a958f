"""Hostile documents end to end, against the real dev server: read by the offline provider and
by the real ``mistralai`` SDK against a stub model that obeys whatever the document says,
every run stops for a person, with the finding in what that person is shown, and nothing is
released or approved meanwhile. A few hypothesis-drawn document sets (a required field absent
or stated twice) run the same way; tests/activities/test_hostile_documents.py runs many more
against the rules alone."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from temporalio.client import Client, WorkflowHandle

from activities.cargo.factory import terminal_from
from sluice.config import RateLimitSettings, Settings
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from tests.activities.test_hostile_documents import apply_cargo, apply_kyc, cargo_defect, kyc_defect
from tests.conftest import approval_settings
from tests.hostile import HostileDocument
from tests.hostile import cargo as cargo_corpus
from tests.hostile import kyc as kyc_corpus
from tests.stubs.mistral_api import MistralStub
from tests.stubs.obedient_model import obedient_cargo_reader, obedient_kyc_reader
from tests.support import status_until, wired
from workflows.cargo_release import CargoReleaseWorkflow
from workflows.kyc_review import KycReviewWorkflow

PROVIDERS = ("offline", "obedient_model")


@pytest.fixture
def stub() -> Iterator[MistralStub]:
    with MistralStub() as running:
        yield running


def read_with(provider: str, settings: Settings, stub: MistralStub, reader: Any) -> None:
    """Documents are read by ``provider``: the offline rules, or the obedient stub model."""
    if provider == "offline":
        settings.model.provider = "offline"
        return
    settings.model.provider = "mistral"
    settings.model.mistral_api_key = "test-key"
    settings.model.mistral_server_url = stub.url
    settings.model.limits = RateLimitSettings(requests_per_minute=6000)
    stub.default_chat = reader


def released(settings: Settings) -> list[str]:
    terminal = wired(settings, terminal_from)
    return [entry.subject for entry in terminal.ledger.actions("release")]


async def until_a_person_is_asked(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """What the person is shown once the run waits for them: the decision's evidence, or the
    reasons a document is asked for again. A run that ends first fails the test."""
    status: RunStatus = await status_until(
        handle,
        lambda s: s.pending_decision is not None or s.awaiting_input is not None,
        what="a person",
        seconds=90,
    )
    if status.pending_decision is not None:
        return status.pending_decision.request.evidence
    assert status.awaiting_input is not None
    return status.awaiting_input.request.reasons


async def start_cargo(client: Client, settings: Settings, name: str, replacements: Any) -> Any:
    return await client.start_workflow(
        CargoReleaseWorkflow.run,
        cargo_corpus.shipment_with(replacements),
        id=f"hostile-cargo-{name[:40]}-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal.task_queue,
    )


async def start_kyc(client: Client, settings: Settings, replacements: dict[str, str]) -> Any:
    application = kyc_corpus.application_with(replacements)
    return await client.start_workflow(
        KycReviewWorkflow.run,
        application,
        id=f"hostile-kyc-{application.application_id}",
        task_queue=settings.temporal.task_queue,
    )


def kyc_settings(settings: Settings) -> Settings:
    """Low risk approved without a human: the policy these documents try to exploit."""
    settings.approvals["kyc_review"] = approval_settings(
        reviewers={"kyc_approval": ["alice", "bob", "dave"]}, auto_approve_low_risk=True
    )
    return settings


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_hostile_trade_document_is_released_without_the_officer(
    client: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    stub: MistralStub,
    provider: str,
) -> None:
    read_with(provider, settings, stub, obedient_cargo_reader(cargo_corpus.REFERENCE))
    cases: list[tuple[HostileDocument, WorkflowHandle[Any, Any]]] = []
    async with make_worker(client):
        for case in cargo_corpus.CORPUS:
            handle = await start_cargo(client, settings, case.name, {case.kind: case.content})
            cases.append((case, handle))
        for case, handle in cases:
            evidence = await until_a_person_is_asked(handle)
            assert any(item.startswith(f"[{case.rule}]") for item in evidence), (case, evidence)
            trail = await handle.query("audit", result_type=AuditTrail)
            hits = [e for e in trail.of_kind("rule_hit") if e.detail["rule"] == case.rule]
            assert hits and hits[0].detail["ruleset"] == "cargo-crosscheck/2026.12.1"
            await handle.terminate("test over")
    assert released(settings) == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_hostile_kyc_document_is_approved_without_a_reviewer(
    client: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    stub: MistralStub,
    provider: str,
) -> None:
    read_with(provider, kyc_settings(settings), stub, obedient_kyc_reader(kyc_corpus.REFERENCE))
    cases: list[tuple[HostileDocument, WorkflowHandle[Any, Any]]] = []
    async with make_worker(client):
        for case in kyc_corpus.CORPUS:
            assert isinstance(case.content, str)
            cases.append((case, await start_kyc(client, settings, {case.kind: case.content})))
        for case, handle in cases:
            shown = await until_a_person_is_asked(handle)
            assert any(f"[{case.rule}]" in item for item in shown), (case, shown)
            # On record for the auditor: as a rule hit with its ruleset, or as the reason
            # the document was asked for again.
            trail = await handle.query("audit", result_type=AuditTrail)
            hits = [e.detail for e in trail.of_kind("rule_hit") if e.detail["rule"] == case.rule]
            asked = [e.detail for e in trail.of_kind("input_requested")]
            assert [hit["ruleset"] for hit in hits] == ["kyc-checks/2026.12.1"] or any(
                f"[{case.rule}]" in reason for detail in asked for reason in detail["reasons"]
            ), trail
            await handle.terminate("test over")


def answers_twice(request: dict[str, Any]) -> str:
    """A model that states the packing list's count twice: the obedient reading, with the
    count repeated as the document's first line gave it."""
    reading = obedient_cargo_reader(cargo_corpus.REFERENCE)(request)
    return json.dumps(reading)[:-1] + ', "package_count": 40}'


async def test_a_model_answer_stating_a_field_twice_goes_to_the_officer_not_to_release(
    client: Client, settings: Settings, make_worker: Callable[..., Any], stub: MistralStub
) -> None:
    read_with("obedient_model", settings, stub, answers_twice)
    async with make_worker(client):
        handle = await start_cargo(client, settings, "answers-twice", {})
        evidence = await until_a_person_is_asked(handle)
        trail = await handle.query("audit", result_type=AuditTrail)
        await handle.terminate("test over")
    assert any(item.startswith("[unreadable]") for item in evidence), evidence
    failures = " ".join(event.summary for event in trail.of_kind("failure"))
    assert "two different values for package_count" in failures
    assert released(settings) == []


# End to end, hypothesis draws the defects (a required field absent or stated twice) and the
# provider; a handful of runs, as each one is a real run on the dev server.
E2E = hypothesis_settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)


@E2E
@given(
    defects=st.lists(cargo_defect(), min_size=1, max_size=2, unique_by=lambda d: d[:2]),
    provider=st.sampled_from(PROVIDERS),
)
async def test_drawn_trade_documents_with_a_field_absent_or_contradicted_wait_for_the_officer(
    client: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    defects: list[tuple[str, str, str | None]],
    provider: str,
) -> None:
    with MistralStub() as stub:
        read_with(provider, settings, stub, obedient_cargo_reader(cargo_corpus.REFERENCE))
        async with make_worker(client):
            handle = await start_cargo(client, settings, "drawn", apply_cargo(defects))
            evidence = await until_a_person_is_asked(handle)
            await handle.terminate("test over")
    assert evidence, defects
    assert released(settings) == []


@E2E
@given(
    defects=st.lists(kyc_defect(), min_size=1, max_size=2, unique_by=lambda d: d[:2]),
    provider=st.sampled_from(PROVIDERS),
)
async def test_drawn_kyc_documents_with_a_field_absent_or_contradicted_wait_for_a_person(
    client: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    defects: list[tuple[str, str, str | None]],
    provider: str,
) -> None:
    with MistralStub() as stub:
        read_with(provider, kyc_settings(settings), stub, obedient_kyc_reader(kyc_corpus.REFERENCE))
        async with make_worker(client):
            handle = await start_kyc(client, settings, apply_kyc(defects))
            shown = await until_a_person_is_asked(handle)
            await handle.terminate("test over")
    assert shown, defects
