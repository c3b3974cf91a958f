"""The model gateway: every model call in Sluice goes through this one interface, whichever
provider sits behind it; it validates the answer against the schema, prices the call and
records it for the audit trail."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.model_gateway.mistral import MistralProvider
from activities.model_gateway.offline import OfflineProvider
from sluice.config import ModelPrice, ModelSettings
from sluice.metering import metered_call
from sluice.model_contracts import (
    MODEL_OUTPUT_INVALID,
    ModelCall,
    ModelProvider,
    ModelRecord,
)
from sluice.validation import validation_problems

T = TypeVar("T", bound=BaseModel)


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
            problems = validation_problems(err)
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
