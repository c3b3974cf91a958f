"""The model gateway's contracts: what a model call is, what it answers, what the audit trail
keeps of it, the policy every model-calling activity declares and the error types a workflow
may look for. The gateway and its providers (``activities/model_gateway/``) implement them.

Temporal owns retries: providers' own retries are off, and provider failures become
``ApplicationError`` s that say whether a retry can help and when. Output that does not match
the expected schema is a retryable error too, with a bounded number of attempts declared on
the calling activity; after that the workflow sends the case to a human.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy

from sluice.activity_policy import ActivityPolicy

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
