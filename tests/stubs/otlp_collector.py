"""A local OpenTelemetry collector for tests: an OTLP/HTTP receiver on 127.0.0.1 that decodes
each protobuf export request (traces and metrics) and keeps what arrived, by path.

    async with OtlpCollector() as collector:
        ...  # point a process at collector.url
        await collector.wait_for(lambda: collector.span_names("/v1/traces"))
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    path: str
    service: str
    name: str
    trace_id: str
    attributes: dict[str, Any]


@dataclass
class OtlpCollector:
    """Receives OTLP/HTTP exports of traces (any path ending in ``traces``) and metrics
    (any path ending in ``metrics``)."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    metrics: list[tuple[str, str, str]] = field(default_factory=list)  # path, service, name
    url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> OtlpCollector:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if request.path.endswith("traces"):
            traces = ExportTraceServiceRequest.FromString(body)
            for resource_spans in traces.resource_spans:
                service = _service(resource_spans.resource)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            ReceivedSpan(
                                request.path,
                                service,
                                span.name,
                                span.trace_id.hex(),
                                {a.key: _value(a.value) for a in span.attributes},
                            )
                        )
            answer = ExportTraceServiceResponse().SerializeToString()
        elif request.path.endswith("metrics"):
            exported = ExportMetricsServiceRequest.FromString(body)
            for resource_metrics in exported.resource_metrics:
                service = _service(resource_metrics.resource)
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        self.metrics.append((request.path, service, metric.name))
            answer = ExportMetricsServiceResponse().SerializeToString()
        else:
            return web.Response(status=404)
        return web.Response(body=answer, content_type="application/x-protobuf")

    def span_names(self, path: str = "/v1/traces") -> set[str]:
        return {span.name for span in self.spans if span.path == path}

    def metric_names(self, path: str = "/v1/metrics") -> set[str]:
        return {name for at, _, name in self.metrics if at == path}

    async def wait_for(self, arrived: Callable[[], object], seconds: float = 60) -> None:
        """Until ``arrived()`` is true, by the clock (a loaded machine only waits longer)."""
        deadline = time.monotonic() + seconds
        while not arrived():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"not arrived after {seconds}s; spans: {sorted(self.span_names())[:20]}, "
                    f"metrics: {sorted({m[2] for m in self.metrics})[:20]}"
                )
            await asyncio.sleep(0.2)


def _service(resource: Any) -> str:
    for attribute in resource.attributes:
        if attribute.key == "service.name":
            return str(attribute.value.string_value)
    return ""


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None
