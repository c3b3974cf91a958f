"""Telemetry: where Sluice's traces and metrics go, set up once per process.

Temporal's own OpenTelemetry plugin traces the client, workflows, signals, updates and
activities, and carries the trace context from ``starter.py start`` through the workflow into
every activity; the interceptor (``sluice.interceptor``) adds a span per model call. Spans go
to OTLP when an endpoint is set (``[telemetry] otlp_endpoint`` or OpenTelemetry's own
variables, over HTTP or gRPC), metrics too, and the Temporal SDK's own metrics with them;
otherwise spans go to a JSON-lines file under the data folder that ``starter.py trace`` draws.
The tracer provider is Temporal's replay-safe one: a workflow replay (worker restart, cache
eviction) emits no span twice.

OpenTelemetry's standard variables are honoured as its SDKs define them:
``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``
(``otlp``, ``console``, ``none``), ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL) and the
signal-specific ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT`` (used as
given), ``OTEL_EXPORTER_OTLP_PROTOCOL`` and its signal-specific forms (``http/protobuf`` or
``grpc``), ``OTEL_EXPORTER_OTLP_HEADERS``.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, SamplingResult
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.util.types import Attributes
from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.contrib.opentelemetry import (
    OpenTelemetryPlugin,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)
from temporalio.runtime import OpenTelemetryConfig

from sluice.config import ConfigError, Settings
from sluice.logs import Silence
from sluice.private_files import FILE_MODE, private_file, private_folder

log = logging.getLogger("sluice.telemetry")

TRACER_NAME = "sluice"


class SpanRecord(BaseModel):
    """One finished span as the local trace file keeps it (one JSON object per line)."""

    trace_id: str
    span_id: str
    parent_id: str | None = None
    name: str
    kind: str
    service: str = ""
    start_ns: int
    end_ns: int
    status: str = "UNSET"
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def duration_seconds(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    @classmethod
    def of(cls, span: ReadableSpan) -> SpanRecord:
        context = span.get_span_context()
        assert context is not None
        return cls(
            trace_id=f"{context.trace_id:032x}",
            span_id=f"{context.span_id:016x}",
            parent_id=f"{span.parent.span_id:016x}" if span.parent else None,
            name=span.name,
            kind=span.kind.name,
            service=str(span.resource.attributes.get("service.name", "")),
            start_ns=span.start_time or 0,
            end_ns=span.end_time or span.start_time or 0,
            status=span.status.status_code.name,
            attributes=dict(span.attributes or {}),
            events=[
                {"name": e.name, "at_ns": e.timestamp, "attributes": dict(e.attributes or {})}
                for e in span.events
            ],
        )


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to a local file, one JSON object per line. The worker and the
    CLI may append to the same file: each batch is one write on a file opened for append."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path.is_file():
            private_file(path)  # a span file an earlier version left readable is closed

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(SpanRecord.of(span).model_dump_json() + "\n" for span in spans)
        try:
            with self._lock:
                private_folder(self.path.parent)
                # Created readable by its owner only: spans name runs, steps and reviewers.
                descriptor = os.open(
                    self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE
                )
                with os.fdopen(descriptor, "a", encoding="utf-8") as out:
                    out.write(lines)
        except OSError as err:
            log.warning("could not write spans to %s: %s", self.path, err)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing is held open between batches."""


def read_spans(path: Path) -> list[SpanRecord]:
    """Every span in a local trace file; lines that cannot be read are skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(SpanRecord.model_validate_json(line))
        except ValueError:
            continue
    return records


class _WithoutQueries(ParentBased):
    """Status queries are polled constantly and explain nothing about a run: not traced."""

    def __init__(self) -> None:
        super().__init__(ALWAYS_ON)

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if name.startswith(("QueryWorkflow:", "HandleQuery:")):
            return SamplingResult(Decision.DROP)
        return super().should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "SluiceWithoutQueries"


class OncePerSpan(SpanProcessor):
    """Passes each finished span on once. Workflow spans have deterministic ids, and a query
    on a workflow out of cache can run its newest, not yet completed, workflow task a first
    time just to answer (Temporal discards that run's commands, but not its spans): the same
    span then ends twice with the same id."""

    def __init__(self, inner: SpanProcessor, remember: int = 100_000) -> None:
        self.inner = inner
        self._remember = remember
        self._seen: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._lock = threading.Lock()
        self.repeated = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.get_span_context()
        if context is not None:
            key = (context.trace_id, context.span_id)
            with self._lock:
                if key in self._seen:
                    self.repeated += 1
                    return
                self._seen[key] = None
                if len(self._seen) > self._remember:
                    self._seen.popitem(last=False)
        self.inner.on_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


@dataclass
class Telemetry:
    """The process's telemetry: ``traced(client)`` gives a client (and its workers) tracing."""

    destination: str
    tracer_provider: ReplaySafeTracerProvider | None
    meter_provider: MeterProvider | None
    spans: OncePerSpan | None = None

    @property
    def enabled(self) -> bool:
        return self.tracer_provider is not None

    def traced(self, client: Client) -> Client:
        """The same connection with Temporal's tracing plugin; workers built on it inherit it."""
        if not self.enabled or any(
            isinstance(p, OpenTelemetryPlugin) for p in client.config()["plugins"]
        ):
            return client
        config = client.config()
        config["plugins"] = [*config["plugins"], OpenTelemetryPlugin(add_temporal_spans=True)]
        return Client(**config)

    def flush(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush()
        if self.meter_provider is not None:
            self.meter_provider.force_flush()


Signal = Literal["traces", "metrics"]
OtlpProtocol = Literal["http/protobuf", "grpc"]
PROTOCOLS: tuple[OtlpProtocol, ...] = ("http/protobuf", "grpc")
# OpenTelemetry's defaults when "otlp" is asked for and no endpoint is given.
DEFAULT_ENDPOINTS: dict[OtlpProtocol, str] = {
    "http/protobuf": "http://localhost:4318",
    "grpc": "http://localhost:4317",
}


@dataclass(frozen=True)
class OtlpTarget:
    """Where one signal goes over OTLP: the full URL, the protocol and extra headers."""

    endpoint: str
    protocol: OtlpProtocol
    headers: Mapping[str, str]


def _variable(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def sdk_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """``OTEL_SDK_DISABLED=true``: no tracing and no metrics at all."""
    environ = os.environ if environ is None else environ
    return _variable(environ, "OTEL_SDK_DISABLED").lower() == "true"


def exporter_choice(signal: Signal, environ: Mapping[str, str] | None = None) -> str | None:
    """``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``otlp``, ``console`` or ``none``
    (the first of a list), or None when unset."""
    environ = os.environ if environ is None else environ
    chosen = _variable(environ, f"OTEL_{signal.upper()}_EXPORTER").split(",")[0].strip().lower()
    if not chosen:
        return None
    if chosen not in ("otlp", "console", "none"):
        raise ConfigError(
            f"OTEL_{signal.upper()}_EXPORTER={chosen!r}: Sluice exports with otlp, console or none"
        )
    return chosen


def otlp_target(
    settings: Settings, signal: Signal, environ: Mapping[str, str] | None = None
) -> OtlpTarget | None:
    """Where ``signal`` goes over OTLP, or None when no endpoint is set and OTLP was not asked
    for. The signal-specific variable is the full URL; the base endpoint (``[telemetry]
    otlp_endpoint``, overridden by ``OTEL_EXPORTER_OTLP_ENDPOINT``) gets ``/v1/<signal>``
    over HTTP, as OpenTelemetry's exporters do."""
    environ = os.environ if environ is None else environ
    upper = signal.upper()
    protocol = (
        _variable(environ, f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL")
        or _variable(environ, "OTEL_EXPORTER_OTLP_PROTOCOL")
        or settings.telemetry.otlp_protocol
    )
    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"OTLP protocol {protocol!r}: Sluice exports with {' or '.join(PROTOCOLS)}"
        )
    checked: OtlpProtocol = "grpc" if protocol == "grpc" else "http/protobuf"
    headers = _headers(_variable(environ, "OTEL_EXPORTER_OTLP_HEADERS"))
    headers.update(_headers(_variable(environ, f"OTEL_EXPORTER_OTLP_{upper}_HEADERS")))
    specific = _variable(environ, f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT")
    if specific:
        return OtlpTarget(specific, checked, headers)
    base = settings.telemetry.otlp_endpoint
    if not base:
        if exporter_choice(signal, environ) != "otlp":
            return None
        base = DEFAULT_ENDPOINTS[checked]
    if checked == "http/protobuf":
        return OtlpTarget(f"{base.rstrip('/')}/v1/{signal}", checked, headers)
    return OtlpTarget(base, checked, headers)


def _headers(listed: str) -> dict[str, str]:
    """``key1=value1,key2=value2`` as OpenTelemetry's variables write headers."""
    pairs = (part.split("=", 1) for part in listed.split(",") if "=" in part)
    return {unquote(key.strip()): unquote(value.strip()) for key, value in pairs}


def sdk_metrics_config(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> OpenTelemetryConfig | None:
    """The Temporal SDK's own metrics (workflow and activity task latencies, poll counts,
    sticky cache...) to the same OTLP collector as Sluice's, or None when metrics are off.
    Given to the SDK's runtime (``sluice.logs.configure_logging``) before any client exists."""
    environ = os.environ if environ is None else environ
    if sdk_disabled(environ) or exporter_choice("metrics", environ) in ("none", "console"):
        return None
    target = otlp_target(settings, "metrics", environ)
    if target is None:
        return None
    # As often as OpenTelemetry's own readers export (OTEL_METRIC_EXPORT_INTERVAL, 60 s by
    # default), not the SDK core's every second: a collector that is down is one warning a
    # minute, not one a second.
    try:
        interval_ms = int(_variable(environ, "OTEL_METRIC_EXPORT_INTERVAL") or 60_000)
    except ValueError:
        raise ConfigError("OTEL_METRIC_EXPORT_INTERVAL: milliseconds, a whole number") from None
    return OpenTelemetryConfig(
        url=target.endpoint,
        headers=dict(target.headers) or None,
        metric_periodicity=timedelta(milliseconds=max(interval_ms, 100)),
        http=target.protocol == "http/protobuf",
        durations_as_seconds=True,
    )


def _span_processor(settings: Settings, environ: Mapping[str, str]) -> tuple[Any, str]:
    """The configured span destination and how it is announced."""
    choice = exporter_choice("traces", environ)
    if choice == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return SimpleSpanProcessor(ConsoleSpanExporter()), "console"
    target = None if choice == "none" else otlp_target(settings, "traces", environ)
    if target is None:
        exporter: SpanExporter = JsonLinesSpanExporter(settings.spans_file)
        return BatchSpanProcessor(exporter, schedule_delay_millis=1000), str(settings.spans_file)
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        exporter = GrpcSpanExporter(endpoint=target.endpoint, headers=dict(target.headers))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=target.endpoint, headers=dict(target.headers))
    return BatchSpanProcessor(exporter), f"OTLP {target.endpoint} ({target.protocol})"


def _metric_readers(settings: Settings, environ: Mapping[str, str]) -> list[MetricReader]:
    if exporter_choice("metrics", environ) in ("none", "console"):
        return []
    target = otlp_target(settings, "metrics", environ)
    if target is None:
        return []
    exporter: Any
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        exporter = GrpcMetricExporter(endpoint=target.endpoint, headers=dict(target.headers))
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        exporter = OTLPMetricExporter(endpoint=target.endpoint, headers=dict(target.headers))
    return [PeriodicExportingMetricReader(exporter)]


_installed: Telemetry | None = None


def install_telemetry(
    settings: Settings,
    service: str,
    *,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    environ: Mapping[str, str] | None = None,
) -> Telemetry:
    """Set the process-wide tracer and meter providers (once; later calls return the first).

    ``service`` names the process unless ``OTEL_SERVICE_NAME`` does. ``span_exporter``
    (tests: an in-memory one) replaces the configured destination."""
    global _installed
    if _installed is not None:
        return _installed
    environ = os.environ if environ is None else environ
    if sdk_disabled(environ) and span_exporter is None:
        _installed = Telemetry("off (OTEL_SDK_DISABLED)", None, None)
        return _installed
    resource = Resource.create({"service.name": _variable(environ, "OTEL_SERVICE_NAME") or service})
    readers: list[MetricReader] = [metric_reader] if metric_reader else []
    if span_exporter is not None:
        processor: Any = SimpleSpanProcessor(span_exporter)
        destination = type(span_exporter).__name__
    else:
        processor, destination = _span_processor(settings, environ)
        readers.extend(_metric_readers(settings, environ))
    tracer_provider = create_tracer_provider(resource=resource, sampler=_WithoutQueries())
    once = OncePerSpan(processor)
    tracer_provider.add_span_processor(once)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    # A workflow evicted mid-run (worker stopping, cache full) is closed wherever garbage
    # collection runs, where the Temporal plugin's span context cannot be detached; and runs
    # evicted as the worker stops end their span after tracing shut down. Nothing is lost in
    # either case (the replay that resumes the run ends the span): the lines are noise.
    logging.getLogger("opentelemetry.context").addFilter(Silence("Failed to detach context"))
    logging.getLogger("opentelemetry.sdk._shared_internal").addFilter(
        Silence("Shutdown called, ignoring Span.")
    )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    if trace.get_tracer_provider() is not tracer_provider:
        # Someone else owns the global provider: tracing it would not be replay-safe.
        log.warning("another OpenTelemetry tracer provider is installed; Sluice tracing is off")
        _installed = Telemetry("off", None, None)
    else:
        _installed = Telemetry(destination, tracer_provider, meter_provider, once)
    return _installed


def workflow_tracer() -> Tracer | None:
    """A tracer for spans made inside workflow code, or None when the installed provider is
    not Temporal's replay-safe one (then such spans would repeat on every replay)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, ReplaySafeTracerProvider):
        return _tracer_of(provider)
    return None


@functools.lru_cache(maxsize=4)
def _tracer_of(provider: ReplaySafeTracerProvider) -> Tracer:
    """The provider's workflow tracer, made once: asking a provider for a tracer makes a new
    one and resets a warnings filter each time, and a run asks at every step (about 1 % of a
    worker's CPU, profiled)."""
    return provider.get_tracer(TRACER_NAME)


@contextmanager
def workflow_span(name: str, **attributes: str | int | float | bool) -> Iterator[Span | None]:
    """A span around part of a workflow (an approval wait, say), emitted once per run.

    It is not made the current span: a workflow evicted mid-wait is closed from wherever
    garbage collection runs, where detaching a context fails. Nor is it ended then (only on
    completion or failure), so the replay that resumes the run ends it instead."""
    tracer = workflow_tracer()
    if tracer is None:
        yield None
        return
    span = tracer.start_span(name, attributes=attributes)
    try:
        yield span
    except Exception as err:
        span.set_attribute("error.type", type(err).__qualname__)
        span.set_status(StatusCode.ERROR, str(err)[:300])
        span.end()
        raise
    span.end()
