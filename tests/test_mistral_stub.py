"""The real ``mistralai`` SDK against the loopback MistralStub (the SDK is never patched)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx2
import pytest
from mistralai.client import Mistral
from mistralai.client.errors import HTTPValidationError, MistralError
from mistralai.client.utils import BackoffStrategy, RetryConfig

from tests.stubs.mistral_api import (
    CHAT_PATH,
    EXAMPLE_RATE_LIMIT_HEADERS,
    OCR_PATH,
    MistralStub,
)

NO_RETRIES = RetryConfig("none", BackoffStrategy(1, 1, 1, 1), False)
MESSAGES = [{"role": "user", "content": "Classify this ticket: the parcel never arrived."}]


@pytest.fixture
def stub() -> Iterator[MistralStub]:
    with MistralStub() as running:
        yield running


def client_for(stub: MistralStub, async_client: httpx2.AsyncClient | None = None) -> Mistral:
    return Mistral(
        api_key="test-key",
        server_url=stub.url,
        retry_config=NO_RETRIES,
        async_client=async_client,
    )


@pytest.mark.asyncio
async def test_chat_returns_scripted_content_and_usage(stub: MistralStub) -> None:
    stub.enqueue_chat({"category": "delivery"}, input_tokens=12, output_tokens=5)
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "triage", "schema": {"type": "object"}, "strict": True},
    }
    async with client_for(stub) as client:
        response = await client.chat.complete_async(
            model="mistral-small-latest",
            messages=MESSAGES,
            response_format=response_format,
        )

    assert response.choices[0].message is not None
    assert json.loads(str(response.choices[0].message.content)) == {"category": "delivery"}
    assert response.choices[0].finish_reason == "stop"
    assert response.model == "mistral-small-latest"
    assert response.id.startswith("cmpl-")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (12, 5)
    assert response.usage.total_tokens == 17

    (recorded,) = stub.requests
    assert (recorded.method, recorded.path) == ("POST", CHAT_PATH)
    assert recorded.headers["authorization"] == "Bearer test-key"
    assert recorded.body["model"] == "mistral-small-latest"
    assert recorded.body["messages"] == MESSAGES
    assert recorded.body["response_format"]["type"] == "json_schema"
    assert recorded.body["response_format"]["json_schema"]["name"] == "triage"
    assert stub.count(CHAT_PATH) == 1
    assert stub.responses_by_status[200] == 1


@pytest.mark.asyncio
async def test_default_token_counts_are_rough_estimates(stub: MistralStub) -> None:
    stub.enqueue_chat("x" * 40, model="mistral-large-2411")
    async with client_for(stub) as client:
        response = await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)

    assert response.model == "mistral-large-2411"
    assert response.usage.prompt_tokens == len(MESSAGES[0]["content"]) // 4
    assert response.usage.completion_tokens == 10


@pytest.mark.asyncio
async def test_429_surfaces_status_and_retry_after(stub: MistralStub) -> None:
    stub.enqueue_error(429, headers={"Retry-After": "2"})
    async with client_for(stub) as client:
        with pytest.raises(MistralError) as caught:
            await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)

    assert caught.value.status_code == 429
    assert caught.value.headers["retry-after"] == "2"
    assert json.loads(caught.value.body)["type"] == "rate_limited"
    assert stub.count(CHAT_PATH) == 1
    assert stub.responses_by_status[429] == 1


@pytest.mark.asyncio
async def test_422_json_error_becomes_http_validation_error(stub: MistralStub) -> None:
    body = {
        "object": "error",
        "message": "bad schema",
        "type": "invalid_request_error",
        "code": "3051",
    }
    stub.enqueue_error(422, body)
    async with client_for(stub) as client:
        with pytest.raises(HTTPValidationError) as caught:
            await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)

    assert caught.value.status_code == 422
    assert json.loads(caught.value.body)["message"] == "bad schema"


@pytest.mark.asyncio
async def test_ocr_returns_scripted_pages(stub: MistralStub) -> None:
    pdf = b"%PDF-1.4 tiny"
    data_url = "data:application/pdf;base64," + base64.b64encode(pdf).decode()
    stub.enqueue_ocr(["# Bill of lading", "Container MSKU 123"])
    async with client_for(stub) as client:
        response = await client.ocr.process_async(
            model="mistral-ocr-latest",
            document={"type": "document_url", "document_url": data_url},
        )

    assert [page.markdown for page in response.pages] == ["# Bill of lading", "Container MSKU 123"]
    assert [page.index for page in response.pages] == [0, 1]
    assert response.usage_info.pages_processed == 2
    assert response.usage_info.doc_size_bytes == len(pdf)
    (recorded,) = stub.requests
    assert recorded.path == OCR_PATH
    assert recorded.body["document"]["document_url"] == data_url


@pytest.mark.asyncio
async def test_invalid_json_content_comes_back_raw(stub: MistralStub) -> None:
    stub.enqueue_chat('{"category": "delivery",')
    async with client_for(stub) as client:
        response = await client.chat.complete_async(
            model="mistral-small-latest",
            messages=MESSAGES,
            response_format={"type": "json_object"},
        )

    assert response.choices[0].message is not None
    assert response.choices[0].message.content == '{"category": "delivery",'


@pytest.mark.asyncio
async def test_empty_queue_uses_default_or_fails_clearly(stub: MistralStub) -> None:
    async with client_for(stub) as client:
        with pytest.raises(MistralError) as caught:
            await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)
        assert caught.value.status_code == 500
        assert "MistralStub: no scripted chat response" in caught.value.body

        stub.default_chat = lambda request: {"echo": request["model"]}
        response = await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)

    assert response.choices[0].message is not None
    assert json.loads(str(response.choices[0].message.content)) == {"echo": "mistral-small-latest"}


@pytest.mark.asyncio
async def test_required_api_key_is_enforced(stub: MistralStub) -> None:
    stub.required_api_key = "right-key"
    stub.enqueue_chat("ok")
    async with client_for(stub) as client:
        with pytest.raises(MistralError) as caught:
            await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)
    assert caught.value.status_code == 401

    async with Mistral(api_key="right-key", server_url=stub.url) as client:
        response = await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)
    assert response.choices[0].message is not None
    assert response.choices[0].message.content == "ok"


@pytest.mark.asyncio
async def test_rate_limit_headers_reach_an_httpx2_response_hook(stub: MistralStub) -> None:
    stub.rate_limit_headers = dict(EXAMPLE_RATE_LIMIT_HEADERS)
    stub.enqueue_chat("ok")
    seen: list[httpx2.Headers] = []

    async def on_response(response: httpx2.Response) -> None:
        seen.append(response.headers)

    http = httpx2.AsyncClient(event_hooks={"response": [on_response]})
    async with client_for(stub, async_client=http) as client:
        await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)
    await http.aclose()

    (headers,) = seen
    for name, value in EXAMPLE_RATE_LIMIT_HEADERS.items():
        assert headers[name] == value


@pytest.mark.asyncio
async def test_stub_enforcing_a_limit_answers_429_beyond_its_window(stub: MistralStub) -> None:
    stub.default_chat = lambda _request: {"ok": True}
    stub.requests_per_window = 2
    stub.limit_window_seconds = 60
    async with client_for(stub) as client:
        for _ in range(2):
            await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)
        with pytest.raises(MistralError) as caught:
            await client.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)

    assert caught.value.status_code == 429
    # The window frees its first slot in just under a minute.
    assert 1 <= int(caught.value.headers["retry-after"]) <= 60
    assert json.loads(caught.value.body)["type"] == "rate_limited"
    assert stub.responses_by_status == {200: 2, 429: 1}
    assert [status for _, status in stub.answered] == [200, 200, 429]
