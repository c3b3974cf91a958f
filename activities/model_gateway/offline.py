"""The offline provider: deterministic rules standing in for a model, the default when no key
is set, so demos and tests run with no network; everything it produces is labelled offline."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from sluice.model_contracts import (
    DOCUMENT_NEEDS_HUMAN,
    MODEL_REQUEST_REJECTED,
    OFFLINE_MODEL,
    OFFLINE_PROVIDER,
    ModelAnswer,
    ModelCall,
    ModelUsage,
    OcrAnswer,
    OfflineRule,
)


class OfflineProvider:
    """Deterministic rules standing in for a model, one rule per task."""

    name = OFFLINE_PROVIDER
    model = OFFLINE_MODEL

    def __init__(self, rules: Mapping[str, OfflineRule] | None = None) -> None:
        self._rules: dict[str, OfflineRule] = dict(rules or {})

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
