"""How a model call is reported to whatever watches it, without the caller knowing who.

The model gateway wraps each provider call in ``metered_call(...)`` and fills in the
answer's model, id and usage. In a worker, the interceptor (``sluice.interceptor``) has put
an observer in place for the activity: it rate-limits the call, traces it and counts its
tokens. Anywhere else (a script, a unit test) nobody observes and the call just runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ModelCallReport:
    """One model call as the gateway saw it: the request, then what came back."""

    operation: str
    provider: str
    request_model: str
    system: str = ""
    user: str = ""
    # The request as the GenAI conventions describe it: the prompt by name and version, the
    # kind of output asked for ("json", "text"), the sampling temperature, and the server.
    prompt_name: str | None = None
    prompt_version: str | None = None
    output_type: str | None = None
    temperature: float | None = None
    server_url: str | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    output_text: str | None = None
    rate_limit_headers: dict[str, str] = field(default_factory=dict)

    @property
    def estimated_input_tokens(self) -> int:
        """Roughly four characters a token: good enough to reserve, settled afterwards."""
        return (len(self.system) + len(self.user)) // 4

    def answered(
        self,
        *,
        model: str,
        response_id: str | None,
        finish_reason: str | None,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float | None,
        output_text: str,
    ) -> None:
        self.response_model = model
        self.response_id = response_id
        self.finish_reason = finish_reason
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = cost_usd
        self.output_text = output_text


class ModelCallObserver(Protocol):
    """Something that wraps each model call (the worker's interceptor)."""

    def observe(self, report: ModelCallReport) -> AbstractAsyncContextManager[None]: ...


_observer: ContextVar[ModelCallObserver | None] = ContextVar("sluice_model_observer", default=None)
_current: ContextVar[ModelCallReport | None] = ContextVar("sluice_model_call", default=None)


@contextmanager
def observing(observer: ModelCallObserver) -> Iterator[None]:
    """Every model call made inside the block (in this task) goes through ``observer``."""
    token = _observer.set(observer)
    try:
        yield
    finally:
        _observer.reset(token)


@asynccontextmanager
async def metered_call(
    operation: str,
    provider: str,
    request_model: str,
    *,
    system: str = "",
    user: str = "",
    **request: Any,
) -> AsyncIterator[ModelCallReport]:
    """Wrap one provider call; fill the yielded report with ``answered(...)``. ``request``
    sets the report's other request fields (``prompt_name``, ``temperature``, ...)."""
    report = ModelCallReport(
        operation, provider, request_model, system=system, user=user, **request
    )
    token = _current.set(report)
    try:
        observer = _observer.get()
        if observer is None:
            yield report
        else:
            async with observer.observe(report):
                yield report
    finally:
        _current.reset(token)


async def record_rate_limit_headers(response: Any) -> None:
    """An ``httpx2`` response hook: keep the provider's rate-limit headers on the current
    call's report (the SDK does not expose the headers of successful responses)."""
    report = _current.get()
    if report is None:
        return
    report.rate_limit_headers.update(
        {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit")}
    )
