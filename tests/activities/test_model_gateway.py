"""The ``mistral`` provider through the real ``mistralai`` SDK against a local server that
speaks Mistral's wire format: structured output, and each failure mapped to the retry rule
Temporal needs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.cargo.extraction import PROMPT, TASK, offline_extract
from activities.cargo.factory import terminal_from
from activities.cargo.models import DocumentFields, Shipment
from activities.model_gateway import (
    MODEL_OUTPUT_INVALID,
    MODEL_RATE_LIMITED,
    MODEL_REQUEST_REJECTED,
    MistralProvider,
    ModelCall,
    ModelGateway,
)
from sluice.config import ModelSettings, Settings
from sluice.framework.audit import AuditTrail
from tests.conftest import example
from tests.stubs.mistral_api import MistralStub
from tests.support import wired
from workflows.cargo_release import CargoReleaseWorkflow


@pytest.fixture
def stub() -> Iterator[MistralStub]:
    with MistralStub() as server:
        yield server


def gateway_for(stub: MistralStub) -> ModelGateway:
    settings = ModelSettings(
        provider="mistral", mistral_api_key="test", mistral_server_url=stub.url
    )
    return ModelGateway(MistralProvider(settings), settings.prices)


def bill_of_lading_call() -> ModelCall:
    return ModelCall(
        task=TASK,
        prompt=PROMPT.prompt_id,
        prompt_version=PROMPT.version,
        system=PROMPT.text,
        user="Shipper: Hanseatic Machine Tools GmbH\nGross weight: 8,420 kg",
        input={"kind": "bill_of_lading", "content": "Gross weight: 8,420 kg"},
    )


async def test_structured_output_is_parsed_and_recorded(stub: MistralStub) -> None:
    stub.enqueue_chat(
        {"document_kind": "bill_of_lading", "gross_weight_kg": 8420, "package_count": 12},
        input_tokens=311,
        output_tokens=42,
    )
    fields, record = await gateway_for(stub).structured(bill_of_lading_call(), DocumentFields)

    assert fields.gross_weight_kg == 8420 and fields.package_count == 12
    assert record.provider == "mistral_ai" and record.model == "mistral-small-latest"
    assert record.usage.input_tokens == 311 and record.usage.output_tokens == 42
    assert record.prompt_version.startswith("v1+")
    sent = stub.requests[-1].body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "DocumentFields"
    assert sent["temperature"] == 0
    assert sent["messages"][0]["content"] == PROMPT.text


async def test_chat_cost_is_estimated_from_the_token_prices(stub: MistralStub) -> None:
    stub.enqueue_chat(
        {"document_kind": "bill_of_lading", "gross_weight_kg": 8420, "package_count": 12},
        input_tokens=1_000_000,
        output_tokens=100_000,
    )
    _, record = await gateway_for(stub).structured(bill_of_lading_call(), DocumentFields)
    # mistral-small-latest's list price: 0.10 per million in, 0.30 per million out.
    assert record.cost_usd == pytest.approx(0.10 + 0.03)


async def test_ocr_is_priced_per_page_the_provider_processed(stub: MistralStub) -> None:
    stub.enqueue_ocr(["# Passport", "Surname: DURAND", "Visa page"])
    text, record = await gateway_for(stub).ocr(
        "kyc.ocr_document", "data:application/pdf;base64,JVBERi0xLjQgdGlueQ=="
    )
    assert "Surname: DURAND" in text
    assert record.operation == "ocr" and record.model == "mistral-ocr-latest"
    assert record.output["pages_processed"] == 3
    # 2 dollars per thousand pages.
    assert record.cost_usd == pytest.approx(3 * 0.002)


async def test_rate_limit_is_retryable_after_the_servers_delay(stub: MistralStub) -> None:
    stub.enqueue_error(429, headers={"Retry-After": "7"})
    with pytest.raises(ApplicationError) as raised:
        await gateway_for(stub).structured(bill_of_lading_call(), DocumentFields)
    assert raised.value.type == MODEL_RATE_LIMITED
    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=7)
    assert stub.count("/v1/chat/completions") == 1, "the SDK must not retry on its own"


@pytest.mark.parametrize("status", [400, 401, 403, 422])
async def test_refused_requests_are_not_retried(stub: MistralStub, status: int) -> None:
    stub.enqueue_error(status, {"object": "error", "message": "no", "type": "invalid"})
    with pytest.raises(ApplicationError) as raised:
        await gateway_for(stub).structured(bill_of_lading_call(), DocumentFields)
    assert raised.value.type == MODEL_REQUEST_REJECTED
    assert raised.value.non_retryable
    assert f"({status})" in raised.value.message


async def test_server_errors_are_retryable(stub: MistralStub) -> None:
    stub.enqueue_error(503)
    with pytest.raises(ApplicationError) as raised:
        await gateway_for(stub).structured(bill_of_lading_call(), DocumentFields)
    assert not raised.value.non_retryable and "503" in raised.value.message


async def test_invalid_json_from_the_model_is_a_retryable_output_error(stub: MistralStub) -> None:
    stub.enqueue_chat("Sure! The weight is 8,420 kg.")
    with pytest.raises(ApplicationError) as raised:
        await gateway_for(stub).structured(bill_of_lading_call(), DocumentFields)
    assert raised.value.type == MODEL_OUTPUT_INVALID
    assert not raised.value.non_retryable
    assert "does not match DocumentFields" in raised.value.message


async def test_an_answer_giving_one_field_two_values_is_not_taken(stub: MistralStub) -> None:
    # A JSON parser would keep the second count silently; the model may have meant either.
    stub.enqueue_chat('{"document_kind": "packing_list", "package_count": 40, "package_count": 12}')
    with pytest.raises(ApplicationError) as raised:
        await gateway_for(stub).structured(bill_of_lading_call(), DocumentFields)
    assert raised.value.type == MODEL_OUTPUT_INVALID
    assert not raised.value.non_retryable
    assert "two different values for package_count" in raised.value.message


async def test_an_answer_repeating_a_field_with_the_same_value_is_taken(stub: MistralStub) -> None:
    stub.enqueue_chat('{"document_kind": "packing_list", "package_count": 12, "package_count": 12}')
    fields, _ = await gateway_for(stub).structured(bill_of_lading_call(), DocumentFields)
    assert fields.package_count == 12


def reads_like_the_offline_rules(request: dict[str, Any]) -> dict[str, Any]:
    """A stand-in model: answers each document with the fields the offline rules read."""
    user = request["messages"][-1]["content"]
    kind = user.split("submitter: ", 1)[1].split("\n", 1)[0]
    text = user.split("\n\n", 1)[1]
    try:
        content: Any = json.loads(text)
    except json.JSONDecodeError:
        content = text
    call = ModelCall(
        task=TASK,
        prompt="x",
        prompt_version="x",
        system="",
        user=text,
        input={"kind": kind, "content": content},
    )
    return offline_extract(call).model_dump(mode="json")


async def test_cargo_run_on_mistral_survives_a_429_and_records_the_real_usage(
    client: Client, settings: Settings, make_worker: Callable[..., Any], stub: MistralStub
) -> None:
    settings.model = ModelSettings(
        provider="mistral", mistral_api_key="test", mistral_server_url=stub.url
    )
    stub.enqueue_error(429, headers={"Retry-After": "1"})
    stub.default_chat = reads_like_the_offline_rules
    async with make_worker(client):
        handle = await client.start_workflow(
            CargoReleaseWorkflow.run,
            Shipment.model_validate(example("cargo_release", "clean")),
            id=f"cargo-mistral-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.task_queue,
        )
        outcome = await handle.result()
        trail = await handle.query("audit", result_type=AuditTrail)

    assert outcome.action == "released" and outcome.decision == "not_required"
    assert stub.responses_by_status[429] == 1
    models = trail.of_kind("model_output")
    assert {e.detail["provider"] for e in models} == {"mistral_ai"}
    assert max(e.detail["attempt"] for e in models) == 2, "one document was read on a retry"
    assert len(wired(settings, terminal_from).ledger.actions()) == 1
