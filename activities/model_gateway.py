"""The model gateway: every model call in Sluice goes through one interface.

Two providers sit behind it. ``mistral`` calls Mistral's API through the real SDK (or a
self-hosted Mistral-compatible endpoint via ``MISTRAL_SERVER_URL``, which keeps data on
premises). ``offline`` is a deterministic rules implementation of the same interface, the
default when no key is set, so demos and tests run with no network; everything it produces
is labelled as offline.

Temporal owns retries: the SDK's own retries are off, and provider failures become
``ApplicationError`` s that say whether a retry can help and when. Output that does not match
the expected schema is a retryable error too, with a bounded number of attempts declared on
the calling activity; after that the workflow sends the case to a human.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field, ValidationError
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from sluice.activity_policy import ActivityPolicy
from sluice.config import ModelPrice, ModelSettings
from sluice.metering import metered_call, record_rate_limit_headers

T = TypeVar("T", bound=BaseModel)

# Every model-calling activity uses this policy. Three attempts: a transient provider error
# or one malformed answer is worth retrying; a model that keeps answering off-schema is a
# case for a human, not for a fourth try.
MODEL_CALL = ActivityPolicy(
    start_to_close=timedelta(seconds=90),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=3,
        non_retryable_error_types=["ModelRequestRejected"],
    ),
    model_call=True,
)

OFFLINE_PROVIDER = "sluice_offline"
OFFLINE_MODEL = "sluice-offline-rules-1"
MISTRAL_PROVIDER = "mistral_ai"

# Error types a workflow may look for in an ActivityError's cause.
MODEL_OUTPUT_INVALID = "ModelOutputInvalid"
MODEL_UNAVAILABLE = "ModelUnavailable"
MODEL_RATE_LIMITED = "ModelRateLimited"
MODEL_REQUEST_REJECTED = "ModelRequestRejected"
# The provider cannot read this document (the offline provider reads no scans): a person must.
DOCUMENT_NEEDS_HUMAN = "DocumentNeedsHuman"


@dataclass(frozen=True)
class Prompt:
    """A versioned prompt: text kept in a file beside the activity that uses it."""

    prompt_id: str
    version: str
    text: str

    @classmethod
    def load(cls, folder: Path, prompt_id: str, version: str) -> Prompt:
        """Read ``{folder}/{prompt_id}.{version}.txt``; the recorded version carries a
        content hash so an edited file can never pass for the old one."""
        text = (folder / f"{prompt_id}.{version}.txt").read_text(encoding="utf-8")
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        return cls(prompt_id=prompt_id, version=f"{version}+{digest}", text=text)

    def call(self, task: str, user: str, input: dict[str, Any]) -> ModelCall:
        """A request for ``task`` with this prompt as its system text, recorded by id and
        version."""
        return ModelCall(
            task=task,
            prompt=self.prompt_id,
            prompt_version=self.version,
            system=self.text,
            user=user,
            input=input,
        )


class ModelCall(BaseModel):
    """One structured request to a model."""

    task: str
    prompt: str
    prompt_version: str
    system: str
    user: str
    input: dict[str, Any] = Field(default_factory=dict)


class ModelUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class ModelAnswer(BaseModel):
    """What a provider answered, before validation."""

    provider: str
    model: str
    content: str
    response_id: str | None = None
    finish_reason: str | None = None
    usage: ModelUsage = Field(default_factory=ModelUsage)


class ModelRecord(BaseModel):
    """What the audit trail keeps of one model call."""

    task: str
    operation: str = "chat"
    provider: str
    model: str
    prompt: str
    prompt_version: str
    response_id: str | None = None
    usage: ModelUsage = Field(default_factory=ModelUsage)
    attempt: int = 1
    duration_ms: int = 0
    output: dict[str, Any] = Field(default_factory=dict)
    # Estimated from the configured price table; None when the model has no price there.
    cost_usd: float | None = None


class ModelProvider(Protocol):
    """A source of model answers."""

    name: str

    async def chat_json(self, call: ModelCall, schema: type[BaseModel]) -> ModelAnswer: ...

    async def ocr(self, document_url: str) -> OcrAnswer: ...


class OcrAnswer(BaseModel):
    """What an OCR provider read from an image or PDF: one markdown text per page."""

    provider: str
    model: str
    pages: list[str]
    document_bytes: int | None = None
    # What the provider bills: pages it processed (may differ from the pages returned).
    pages_processed: int | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(page.strip() for page in self.pages if page.strip())


OfflineRule = Callable[[ModelCall], BaseModel]


class OfflineProvider:
    """Deterministic rules standing in for a model, one rule per task."""

    name = OFFLINE_PROVIDER
    model = OFFLINE_MODEL

    def __init__(self, rules: Mapping[str, OfflineRule] | None = None) -> None:
        self._rules: dict[str, OfflineRule] = dict(rules or {})

    def register(self, task: str, rule: OfflineRule) -> None:
        self._rules[task] = rule

    async def chat_json(self, call: ModelCall, schema: type[BaseModel]) -> ModelAnswer:
        rule = self._rules.get(call.task)
        if rule is None:
            raise ApplicationError(
                f"the offline provider has no rule for task '{call.task}'",
                type=MODEL_REQUEST_REJECTED,
                non_retryable=True,
            )
        content = rule(call).model_dump_json()
        return ModelAnswer(
            provider=self.name,
            model=OFFLINE_MODEL,
            content=content,
            response_id=f"offline-{hashlib.sha256(content.encode()).hexdigest()[:16]}",
            finish_reason="stop",
            usage=ModelUsage(input_tokens=len(call.user) // 4, output_tokens=len(content) // 4),
        )

    async def ocr(self, document_url: str) -> OcrAnswer:
        """Rules cannot read a scan: say so, so the run routes the document to a person."""
        kind = document_url[5 : document_url.find(";")] if document_url.startswith("data:") else ""
        raise ApplicationError(
            f"the offline provider cannot read {kind or 'image or PDF'} documents: "
            "a person must read it or provide it as text",
            type=DOCUMENT_NEEDS_HUMAN,
            non_retryable=True,
            # An expected outcome, not a fault: the worker logs it at debug level only.
            category=ApplicationErrorCategory.BENIGN,
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


class ModelGateway:
    """The one way activities ask a model for structured output."""

    def __init__(
        self, provider: ModelProvider, prices: Mapping[str, ModelPrice] | None = None
    ) -> None:
        self.provider = provider
        self.prices = dict(prices or {})

    def cost_usd(
        self,
        model: str,
        requested_model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        pages: int = 0,
    ) -> float | None:
        """Estimated cost of an answer: the answering model's price, else the requested one's."""
        price = self.prices.get(model) or self.prices.get(requested_model)
        if price is None:
            return None
        return round(price.cost_usd(input_tokens, output_tokens, pages), 8)

    async def structured(self, call: ModelCall, schema: type[T]) -> tuple[T, ModelRecord]:
        """Ask for ``schema``; return the validated answer and its audit record.

        Output that fails validation raises a retryable ``ModelOutputInvalid``: the
        calling activity's retry policy bounds how often it is asked again."""
        started = time.monotonic()
        requested = getattr(self.provider, "model", None) or self.provider.name
        # Reported to the worker's interceptor: rate limit, GenAI span, token and cost metrics.
        async with metered_call(
            "chat",
            self.provider.name,
            requested,
            system=call.system,
            user=call.user,
            prompt_name=call.prompt,
            prompt_version=call.prompt_version,
            output_type="json",
            temperature=getattr(self.provider, "temperature", None),
            server_url=getattr(self.provider, "server_url", None),
        ) as metering:
            answer = await self.provider.chat_json(call, schema)
            cost = self.cost_usd(
                answer.model,
                requested,
                input_tokens=answer.usage.input_tokens,
                output_tokens=answer.usage.output_tokens,
            )
            metering.answered(
                model=answer.model,
                response_id=answer.response_id,
                finish_reason=answer.finish_reason,
                input_tokens=answer.usage.input_tokens,
                output_tokens=answer.usage.output_tokens,
                cost_usd=cost,
                output_text=answer.content,
            )
        repeated = repeated_keys(answer.content)
        if repeated:
            # JSON parsers keep the last of two values silently; which one the model meant
            # is unknown, so the answer is not taken (and after the retries, a person reads).
            raise ApplicationError(
                f"{answer.provider} {answer.model} output for '{call.task}' gives two "
                f"different values for {', '.join(repeated[:5])}",
                type=MODEL_OUTPUT_INVALID,
            )
        try:
            parsed = schema.model_validate_json(answer.content)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in err.errors()[:5]
            )
            raise ApplicationError(
                f"{answer.provider} {answer.model} output for '{call.task}' does not match "
                f"{schema.__name__}: {problems}",
                type=MODEL_OUTPUT_INVALID,
            ) from None
        record = ModelRecord(
            task=call.task,
            provider=answer.provider,
            model=answer.model,
            prompt=call.prompt,
            prompt_version=call.prompt_version,
            response_id=answer.response_id,
            usage=answer.usage,
            attempt=activity.info().attempt if activity.in_activity() else 1,
            duration_ms=int((time.monotonic() - started) * 1000),
            output=parsed.model_dump(mode="json"),
            cost_usd=cost,
        )
        return parsed, record

    async def ocr(self, task: str, document_url: str) -> tuple[str, ModelRecord]:
        """Read an image or PDF (a data URL) as text; return the text and its audit record.

        The record keeps page and character counts, not the text: the text goes on to
        structured extraction, whose output is what the audit trail needs."""
        started = time.monotonic()
        requested = getattr(self.provider, "ocr_model", None) or self.provider.name
        async with metered_call(
            "ocr",
            self.provider.name,
            requested,
            output_type="text",
            server_url=getattr(self.provider, "server_url", None),
        ) as metering:
            answer = await self.provider.ocr(document_url)
            text = answer.text
            pages = len(answer.pages) if answer.pages_processed is None else answer.pages_processed
            cost = self.cost_usd(answer.model, requested, pages=pages)
            metering.answered(
                model=answer.model,
                response_id=None,
                finish_reason=None,
                input_tokens=0,
                output_tokens=0,
                cost_usd=cost,
                output_text=text,
            )
        record = ModelRecord(
            task=task,
            operation="ocr",
            provider=answer.provider,
            model=answer.model,
            prompt="ocr",
            prompt_version="n/a",
            attempt=activity.info().attempt if activity.in_activity() else 1,
            duration_ms=int((time.monotonic() - started) * 1000),
            output={
                "pages": len(answer.pages),
                "pages_processed": pages,
                "characters": len(text),
                "document_bytes": answer.document_bytes,
            },
            cost_usd=cost,
        )
        return text, record


def repeated_keys(content: str) -> list[str]:
    """Keys an answer's JSON gives twice with different values (at any depth)."""
    repeated: list[str] = []

    def collect(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen and seen[key] != value:
                repeated.append(key)
            seen[key] = value
        return seen

    try:
        json.loads(content, object_pairs_hook=collect)
    except ValueError:
        return []  # not JSON at all: schema validation says so
    return list(dict.fromkeys(repeated))


def provider_from_settings(settings: ModelSettings, offline: OfflineProvider) -> ModelProvider:
    """The configured provider; ``offline`` carries the rules for every task."""
    if settings.effective_provider == "mistral":
        return MistralProvider(settings)
    return offline
