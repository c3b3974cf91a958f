"""Telemetry: where Sluice's traces and metrics go, set up once per process.

Temporal's own OpenTelemetry plugin traces the client, workflows, signals, updates and
activities, and carries the trace context from ``starter.py start`` through the workflow into
every activity; the interceptor (``sluice.interceptor``) adds a span per model call. Spans go
to OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (metrics too), otherwise to a JSON-lines
file under the data folder that ``starter.py trace`` draws. The tracer provider is Temporal's
replay-safe one: a workflow replay (worker restart, cache eviction) emits no span twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

from sluice.config import Settings
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


_installed: Telemetry | None = None


def install_telemetry(
    settings: Settings,
    service: str,
    *,
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
) -> Telemetry:
    """Set the process-wide tracer and meter providers (once; later calls return the first).

    ``span_exporter`` (tests: an in-memory one) replaces the configured destination."""
    global _installed
    if _installed is not None:
        return _installed
    resource = Resource.create({"service.name": service})
    readers: list[MetricReader] = [metric_reader] if metric_reader else []
    if span_exporter is not None:
        processor: Any = SimpleSpanProcessor(span_exporter)
        destination = type(span_exporter).__name__
    elif settings.telemetry.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        destination = f"OTLP {settings.telemetry.otlp_endpoint}"
    else:
        processor = BatchSpanProcessor(
            JsonLinesSpanExporter(settings.spans_file), schedule_delay_millis=1000
        )
        destination = str(settings.spans_file)
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
    if isinstance(trace.get_tracer_provider(), ReplaySafeTracerProvider):
        return trace.get_tracer(TRACER_NAME)
    return None


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
