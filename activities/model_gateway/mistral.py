"""The Mistral provider: Mistral's API through the real SDK (or a self-hosted
Mistral-compatible endpoint via ``MISTRAL_SERVER_URL``, which keeps data on premises), with
the SDK's retries off and its failures turned into errors Temporal retries or does not."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from sluice.config import ModelSettings
from sluice.metering import record_rate_limit_headers
from sluice.model_contracts import (
    MISTRAL_PROVIDER,
    MODEL_RATE_LIMITED,
    MODEL_REQUEST_REJECTED,
    MODEL_UNAVAILABLE,
    ModelAnswer,
    ModelCall,
    ModelUsage,
    OcrAnswer,
)


class MistralProvider:
    """Mistral's chat completions with JSON-schema structured output, via the real SDK."""

    name = MISTRAL_PROVIDER
    # Extraction and triage want the most likely answer, the same on every retry.
    temperature = 0.0

    def __init__(self, settings: ModelSettings) -> None:
        import httpx2
        from mistralai.client import Mistral
        from mistralai.client.utils import BackoffStrategy, RetryConfig

        if not settings.mistral_api_key:
            raise ValueError("the mistral provider needs MISTRAL_API_KEY")
        self.model = settings.chat_model
        self.ocr_model = settings.ocr_model
        self.server_url = settings.mistral_server_url or "https://api.mistral.ai"
        self.client = Mistral(
            api_key=settings.mistral_api_key,
            server_url=settings.mistral_server_url,
            # Temporal's retry policy owns retries; SDK retries would hide attempts from it.
            retry_config=RetryConfig("none", BackoffStrategy(1, 1, 1, 1), False),
            timeout_ms=int(settings.request_timeout_seconds * 1000),
            # Our own HTTP client, so the rate limiter sees the rate-limit headers of
            # successful responses too (the SDK only exposes them on errors).
            async_client=httpx2.AsyncClient(
                follow_redirects=True, event_hooks={"response": [record_rate_limit_headers]}
            ),
        )

    async def chat_json(self, call: ModelCall, schema: type[BaseModel]) -> ModelAnswer:
        response_format: Any = {
            "type": "json_schema",
            "json_schema": {
                "name": schema.__name__,
                "schema": schema.model_json_schema(),
                "strict": True,
            },
        }
        messages: Any = [
            {"role": "system", "content": call.system},
            {"role": "user", "content": call.user},
        ]
        with provider_errors():
            response = await self.client.chat.complete_async(
                model=self.model,
                messages=messages,
                response_format=response_format,
                temperature=self.temperature,
            )
        choice = response.choices[0] if response.choices else None
        content = choice.message.content if choice and choice.message else None
        if not isinstance(content, str):
            content = json.dumps(content) if content is not None else ""
        usage = response.usage
        return ModelAnswer(
            provider=self.name,
            model=response.model or self.model,
            content=content,
            response_id=response.id,
            finish_reason=str(choice.finish_reason) if choice else None,
            usage=ModelUsage(
                input_tokens=(usage.prompt_tokens or 0) if usage else 0,
                output_tokens=(usage.completion_tokens or 0) if usage else 0,
            ),
        )

    async def ocr(self, document_url: str) -> OcrAnswer:
        """Mistral OCR of a PDF or image given as a data URL."""
        document: Any = (
            {"type": "image_url", "image_url": document_url}
            if document_url.startswith("data:image/")
            else {"type": "document_url", "document_url": document_url}
        )
        with provider_errors():
            response = await self.client.ocr.process_async(model=self.ocr_model, document=document)
        usage = response.usage_info
        return OcrAnswer(
            provider=self.name,
            model=response.model or self.ocr_model,
            pages=[page.markdown for page in response.pages],
            document_bytes=usage.doc_size_bytes if usage else None,
            pages_processed=usage.pages_processed if usage else None,
        )


@contextmanager
def provider_errors() -> Iterator[None]:
    """Turn provider and transport failures into Temporal errors with the right retry rule:
    429 and 5xx retry (after ``Retry-After`` when given), 400/401/403/422 do not."""
    from mistralai.client.errors import MistralError

    try:
        yield
    except ApplicationError:
        raise
    except MistralError as exc:
        raise _http_failure(exc.status_code, exc.headers, str(exc)) from exc
    except Exception as exc:
        if not _is_transport_error(exc):
            raise
        raise ApplicationError(
            f"model provider unreachable: {type(exc).__name__}: {exc}", type=MODEL_UNAVAILABLE
        ) from exc


def _is_transport_error(exc: BaseException) -> bool:
    import httpx2

    return isinstance(exc, httpx2.TransportError | TimeoutError | ConnectionError)


def _http_failure(status: int, headers: Mapping[str, str], message: str) -> ApplicationError:
    summary = message.splitlines()[0][:300]
    if status == 429 or status >= 500:
        delay = retry_after(headers)
        return ApplicationError(
            f"model provider answered {status}: {summary}",
            type=MODEL_RATE_LIMITED if status == 429 else MODEL_UNAVAILABLE,
            next_retry_delay=delay,
        )
    return ApplicationError(
        f"model provider refused the request ({status}): {summary}",
        type=MODEL_REQUEST_REJECTED,
        non_retryable=True,
    )


def retry_after(headers: Mapping[str, str]) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date; None when absent or unreadable."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        return timedelta(seconds=max(0.0, float(value)))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return timedelta(seconds=max(0.0, parsed.timestamp() - time.time()))
