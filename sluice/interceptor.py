"""The AI interceptor: every model call traced, counted, priced and rate-limited, with no
domain code aware of it.

A worker interceptor watches activities whose declared policy says ``model_call=True``. While
one runs, each call the model gateway makes (``sluice.metering.metered_call``) passes through
here: it waits for rate-limit capacity (briefly; a longer wait is handed back to Temporal as a
retryable error whose ``next_retry_delay`` is when capacity returns, so no slot is held), opens
a span that follows OpenTelemetry's GenAI conventions, and afterwards settles the limiter with
the real usage and records the token, duration and cost metrics. On the workflow side it names
each activity's span after the step that ran it, so a trace reads like the run's timeline.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import typing
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import Span, SpanKind, StatusCode
from temporalio import activity
from temporalio import client as temporal_client
from temporalio import workflow as temporal_workflow
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from sluice.activity_policy import policy_of
from sluice.config import RateLimitSettings
from sluice.converter import INVALID_INPUT
from sluice.metering import ModelCallReport, observing
from sluice.model_contracts import MODEL_RATE_LIMITED
from sluice.ratelimit import Admission, ModelLimiter, ProviderQuota, RateLimiter, Throttle
from sluice.telemetry import TRACER_NAME, workflow_tracer

# How often a waiting call looks again: capacity also returns early when a running call
# settles for fewer tokens than it reserved.
_POLL_SECONDS = 0.2
# Where a prompt's version is recorded on a model call's span (see _request_attributes).
PROMPT_VERSION = "sluice.prompt.version"


def declares_model_call(fn: Callable[..., Any]) -> bool:
    """Whether an activity's declared policy says it calls a model."""
    try:
        return policy_of(fn).model_call
    except TypeError:
        return False


class _Instruments:
    """The GenAI client metrics, plus what the limiter did."""

    def __init__(self) -> None:
        meter = metrics.get_meter(TRACER_NAME)
        self.tokens = meter.create_histogram(
            gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Tokens used per model call, by token type",
            explicit_bucket_boundaries_advisory=[
                1,
                4,
                16,
                64,
                256,
                1024,
                4096,
                16384,
                65536,
                262144,
                1048576,
                4194304,
            ],
        )
        self.duration = meter.create_histogram(
            gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Duration of model calls",
            explicit_bucket_boundaries_advisory=[
                0.01,
                0.02,
                0.04,
                0.08,
                0.16,
                0.32,
                0.64,
                1.28,
                2.56,
                5.12,
                10.24,
                20.48,
                40.96,
                81.92,
            ],
        )
        self.cost = meter.create_counter(
            "sluice.model.cost", unit="USD", description="Estimated cost of model calls"
        )
        self.throttles = meter.create_counter(
            "sluice.model.throttles",
            unit="{throttle}",
            description="Model calls held back by a rate limit, by reason",
        )
        self.wait = meter.create_histogram(
            "sluice.model.rate_limit.wait",
            unit="s",
            description="Time model calls waited for rate-limit capacity",
        )


@cache
def _instruments() -> _Instruments:
    return _Instruments()


class ModelCallInterceptor(Interceptor):
    """Worker interceptor: rate limits and GenAI telemetry for model-calling activities.
    Without a ``limiter`` (the offline provider has no limits) calls are only observed."""

    def __init__(
        self,
        limiter: RateLimiter | None,
        *,
        domains: Mapping[str, str] | None = None,
        capture_content: bool = False,
    ) -> None:
        self.limiter = limiter
        self.domains = dict(domains or {})
        self.capture_content = capture_content

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ModelActivities(next, self)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _StepSpans


class _ModelActivities(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: ModelCallInterceptor) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if not declares_model_call(input.fn):
            return await super().execute_activity(input)
        with observing(_ActivityModelCalls(self.owner, activity.info())):
            return await super().execute_activity(input)


class _ActivityModelCalls:
    """Watches the model calls of one activity attempt."""

    def __init__(self, owner: ModelCallInterceptor, info: activity.Info) -> None:
        self.owner = owner
        self.info = info

    def _context(self) -> dict[str, str | int]:
        info = self.info
        return {
            "temporal.workflow.id": info.workflow_id or "",
            "temporal.workflow.type": info.workflow_type or "",
            "temporal.activity.type": info.activity_type,
            "temporal.activity.attempt": info.attempt,
            "sluice.domain": self.owner.domains.get(info.workflow_type or "", "unknown"),
        }

    def _wait_bound(self, settings: RateLimitSettings) -> float:
        """A short wait normally; on the last attempt, up to half the attempt's time, so a
        throttle never costs a run its last try."""
        bound = settings.max_wait_seconds
        policy = self.info.retry_policy
        last = bool(
            policy and policy.maximum_attempts and self.info.attempt >= policy.maximum_attempts
        )
        if last and self.info.start_to_close_timeout:
            bound = max(bound, self.info.start_to_close_timeout.total_seconds() / 2)
        return bound

    @asynccontextmanager
    async def observe(self, report: ModelCallReport) -> AsyncIterator[None]:
        tracer = trace.get_tracer(TRACER_NAME)
        limiter = self.owner.limiter
        model = limiter.model(report.request_model) if limiter else None
        common = {
            gen_ai.GEN_AI_OPERATION_NAME: report.operation,
            gen_ai.GEN_AI_PROVIDER_NAME: report.provider,
            gen_ai.GEN_AI_REQUEST_MODEL: report.request_model,
        }
        with tracer.start_as_current_span(
            f"{report.operation} {report.request_model}",
            kind=SpanKind.CLIENT,
            attributes={**common, **_request_attributes(report), **self._context()},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if self.owner.capture_content:
                _record_prompt(span, report)
            started = time.monotonic()
            admission: Admission | None = None
            sent = False
            error: BaseException | None = None
            try:
                if model is not None:
                    admission = await self._admit(model, report, span, common)
                sent = True
                yield
            except BaseException as exc:
                error = exc
                raise
            finally:
                if model is not None:
                    if admission is not None:
                        model.settle(admission, _total_tokens(report))
                    quota = ProviderQuota.from_headers(report.rate_limit_headers)
                    if quota is not None:
                        model.observe(quota)
                self._finish(span, report, common, time.monotonic() - started, error, sent)

    async def _admit(
        self, model: ModelLimiter, report: ModelCallReport, span: Span, common: dict[str, str]
    ) -> Admission:
        """Take capacity for the call, waiting at most the bound; otherwise hand the slot
        back to Temporal with a retry when capacity returns."""
        tokens = report.estimated_input_tokens + model.settings.expected_output_tokens
        bound = self._wait_bound(model.settings)
        started = time.monotonic()
        held = False
        while True:
            verdict = model.try_admit(tokens)
            waited = time.monotonic() - started
            if isinstance(verdict, Admission):
                if held:
                    span.set_attribute("sluice.rate_limit.waited_seconds", round(waited, 3))
                    _instruments().wait.record(waited, common)
                return verdict
            if not held:
                held = True
                span.add_event(
                    "rate_limit.wait",
                    {"sluice.rate_limit.reason": verdict.reason, "seconds": verdict.wait_seconds},
                )
            left = bound - waited
            if left <= 0:
                raise self._throttled(report, span, verdict, common, waited)
            await asyncio.sleep(min(verdict.wait_seconds, left, _POLL_SECONDS))

    def _throttled(
        self,
        report: ModelCallReport,
        span: Span,
        verdict: Throttle,
        common: dict[str, str],
        waited: float,
    ) -> ApplicationError:
        span.set_attribute("sluice.rate_limit.throttled", verdict.reason)
        _instruments().throttles.add(1, {**common, "sluice.rate_limit.reason": verdict.reason})
        _instruments().wait.record(waited, common)
        return ApplicationError(
            f"{report.request_model}: {verdict.reason} rate limit reached; capacity returns "
            f"in {verdict.wait_seconds:.1f}s",
            type=MODEL_RATE_LIMITED,
            next_retry_delay=timedelta(seconds=max(verdict.wait_seconds, 0.1)),
        )

    def _finish(
        self,
        span: Span,
        report: ModelCallReport,
        common: dict[str, str],
        seconds: float,
        error: BaseException | None,
        sent: bool,
    ) -> None:
        instruments = _instruments()
        measured = dict(common)
        if report.response_model:
            measured[gen_ai.GEN_AI_RESPONSE_MODEL] = report.response_model
            span.set_attribute(gen_ai.GEN_AI_RESPONSE_MODEL, report.response_model)
        if report.response_id:
            span.set_attribute(gen_ai.GEN_AI_RESPONSE_ID, report.response_id)
        if report.finish_reason:
            span.set_attribute(gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, [report.finish_reason])
        for token_type, attribute, count in (
            ("input", gen_ai.GEN_AI_USAGE_INPUT_TOKENS, report.input_tokens),
            ("output", gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, report.output_tokens),
        ):
            if count is not None:
                span.set_attribute(attribute, count)
                instruments.tokens.record(count, {**measured, gen_ai.GEN_AI_TOKEN_TYPE: token_type})
        if report.cost_usd is not None:
            span.set_attribute("sluice.model.cost_usd", report.cost_usd)
            instruments.cost.add(report.cost_usd, measured)
        if self.owner.capture_content and report.output_text is not None:
            span.set_attribute(
                gen_ai.GEN_AI_OUTPUT_MESSAGES,
                json.dumps([_message("assistant", report.output_text)]),
            )
        if error is not None:
            error_type = _error_type(error)
            measured[ERROR_TYPE] = error_type
            span.set_attribute(ERROR_TYPE, error_type)
            span.set_status(StatusCode.ERROR, str(error)[:300])
            retry_after = _provider_retry_after(error) if sent else None
            if retry_after is not None and self.owner.limiter is not None:
                self.owner.limiter.model(report.request_model).pause(retry_after)
                span.set_attribute("sluice.rate_limit.throttled", "provider")
                instruments.throttles.add(1, {**common, "sluice.rate_limit.reason": "provider"})
        instruments.duration.record(seconds, measured)


def _request_attributes(report: ModelCallReport) -> dict[str, str | int | float]:
    """What was asked, beyond the model: prompt, output type, temperature, server."""
    attributes: dict[str, str | int | float] = {}
    if report.prompt_name:
        attributes[gen_ai.GEN_AI_PROMPT_NAME] = report.prompt_name
    if report.prompt_version:
        # The conventions name a prompt but have no attribute for its version yet.
        attributes[PROMPT_VERSION] = report.prompt_version
    if report.output_type:
        attributes[gen_ai.GEN_AI_OUTPUT_TYPE] = report.output_type
    if report.temperature is not None:
        attributes[gen_ai.GEN_AI_REQUEST_TEMPERATURE] = report.temperature
    if report.server_url:
        server = urlsplit(report.server_url)
        if server.hostname:
            attributes[SERVER_ADDRESS] = server.hostname
            attributes[SERVER_PORT] = server.port or (443 if server.scheme == "https" else 80)
    return attributes


def _total_tokens(report: ModelCallReport) -> int | None:
    if report.input_tokens is None and report.output_tokens is None:
        return None
    return (report.input_tokens or 0) + (report.output_tokens or 0)


def _error_type(error: BaseException) -> str:
    if isinstance(error, ApplicationError) and error.type:
        return error.type
    return type(error).__qualname__


def _provider_retry_after(error: BaseException) -> float | None:
    """The pause a provider's 429 asked for (the gateway maps it to ``next_retry_delay``)."""
    if (
        isinstance(error, ApplicationError)
        and error.type == MODEL_RATE_LIMITED
        and error.next_retry_delay is not None
    ):
        return error.next_retry_delay.total_seconds()
    return None


def _message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


def _record_prompt(span: Span, report: ModelCallReport) -> None:
    if report.system:
        span.set_attribute(
            gen_ai.GEN_AI_SYSTEM_INSTRUCTIONS,
            json.dumps([{"type": "text", "content": report.system}]),
        )
    span.set_attribute(gen_ai.GEN_AI_INPUT_MESSAGES, json.dumps([_message("user", report.user)]))


# --- the workflow side: one span per step, named after the step ------------------------------


class _StepSpans(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_StepSpanOutbound(outbound))


class _StepSpanOutbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> temporal_workflow.ActivityHandle[Any]:
        return _in_step_span(input, super().start_activity)

    def start_local_activity(
        self, input: StartLocalActivityInput
    ) -> temporal_workflow.ActivityHandle[Any]:
        # A step run as a local activity gets the same span as one run as an ordinary one.
        return _in_step_span(input, super().start_local_activity)


StartInput = TypeVar("StartInput", StartActivityInput, StartLocalActivityInput)


def _in_step_span(
    input: StartInput,
    start: Callable[[StartInput], temporal_workflow.ActivityHandle[Any]],
) -> temporal_workflow.ActivityHandle[Any]:
    """Start a step's activity under a span named after the step, ended when it settles."""
    tracer = workflow_tracer()
    if tracer is None:
        return start(input)
    info = temporal_workflow.info()
    span = tracer.start_span(
        input.summary or input.activity,
        attributes={
            "sluice.step": input.summary or input.activity,
            "temporal.activity.type": input.activity,
            "temporal.workflow.id": info.workflow_id,
            "temporal.workflow.type": info.workflow_type,
        },
    )
    with trace.use_span(span, end_on_exit=False):
        handle = start(input)
    handle.add_done_callback(lambda done: _end_step(span, done))
    return handle


def _end_step(span: Span, done: asyncio.Future[Any]) -> None:
    """End a step's span when its activity settles (skipped by the tracer during replay)."""
    if done.cancelled():
        span.set_attribute(ERROR_TYPE, "cancelled")
        span.set_status(StatusCode.ERROR, "cancelled")
    elif (error := done.exception()) is not None:
        cause = error.cause if isinstance(error, ActivityError) else error
        span.set_attribute(ERROR_TYPE, _error_type(cause) if cause else type(error).__name__)
        span.set_status(StatusCode.ERROR, str(cause or error)[:300])
    span.end()


# --- the workflow side: what arrives from outside, checked before anything reads it ----------

# The header in which Temporal's OpenTelemetry interceptor carries the sender's trace context.
TRACE_HEADER = "_tracer-data"


class MessageCheck(temporal_client.Interceptor, Interceptor):
    """Client and worker interceptor, first in the chain (a worker takes its client's
    interceptors before its own, and tracing is a plugin that appends to the client's):

    - a trace header that does not read as a trace context is dropped before the tracing
      interceptor reads it, which would otherwise fail on every retry of the run's task;
    - a run started with no input, or more inputs than its workflow takes (a raw ``temporal
      workflow start``), fails at once with ``InvalidInput``. Input that does not validate is
      refused earlier, when converted (``sluice.converter.WorkerPayloadConverter``)."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _MessageCheck


class _MessageCheck(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        input.headers = readable_headers(input.headers)
        refusal = run_input_refusal(input.run_fn, input.args)
        if refusal is not None:
            raise ApplicationError(
                f"input refused: {refusal}", type=INVALID_INPUT, non_retryable=True
            )
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        input.headers = readable_headers(input.headers)
        await super().handle_signal(input)

    async def handle_query(self, input: HandleQueryInput) -> Any:
        input.headers = readable_headers(input.headers)
        return await super().handle_query(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        input.headers = readable_headers(input.headers)
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        input.headers = readable_headers(input.headers)
        return await super().handle_update_handler(input)


def readable_headers(headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
    """``headers`` without a trace header that is not a JSON object of strings."""
    trace_header = headers.get(TRACE_HEADER)
    if trace_header is None:
        return headers
    try:
        carrier = PayloadConverter.default.from_payload(trace_header)
    except Exception:
        carrier = None
    if isinstance(carrier, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in carrier.items()
    ):
        return headers
    temporal_workflow.logger.warning("dropped an unreadable %s header", TRACE_HEADER)
    return {name: value for name, value in headers.items() if name != TRACE_HEADER}


def run_input_refusal(run_fn: Callable[..., Any], args: Sequence[Any]) -> str | None:
    """Why ``args`` cannot be the input of the workflow ``run_fn``, or None."""
    hints = typing.get_type_hints(run_fn)
    params = [p for p in inspect.signature(run_fn).parameters.values() if p.name != "self"]
    if len(args) != len(params):
        wanted = ", ".join(getattr(hints.get(p.name), "__name__", p.name) for p in params)
        return f"expected {len(params)} input(s) ({wanted}), got {len(args)} payload(s)"
    for param, arg in zip(params, args, strict=True):
        wanted_type = hints.get(param.name)
        if isinstance(wanted_type, type) and not isinstance(arg, wanted_type):
            return f"{param.name}: expected a {wanted_type.__name__} object"
    return None
