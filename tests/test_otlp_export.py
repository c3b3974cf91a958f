"""Traces and metrics reach an OpenTelemetry collector: the one named in ``sluice.toml``, or
the one OpenTelemetry's own variables name, with the Temporal SDK's metrics beside Sluice's;
and the trace goes on into the systems of record the connectors call."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from temporalio.testing import WorkflowEnvironment

from activities.connectors.http import post_idempotent
from sluice.config import ConfigError, Settings
from sluice.logs import JsonLogFormatter
from sluice.telemetry import _span_processor, otlp_target, sdk_metrics_config
from tests.faults.processes import free_ports
from tests.stubs.otlp_collector import OtlpCollector
from tests.stubs.system_of_record import SystemOfRecordStub
from tests.support import ROOT, cli_environment

CLEAN = str(ROOT / "examples" / "cargo_release" / "clean.json")


def clean_environment() -> dict[str, str]:
    """No Temporal, Sluice or OpenTelemetry setting of this machine's own."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "SLUICE_", "OTEL_", "MISTRAL_"))
    }


async def test_spans_and_the_sdk_metrics_reach_the_collector_named_in_sluice_toml(
    tmp_path: Path,
) -> None:
    async with OtlpCollector() as collector:
        config = tmp_path / "sluice.toml"
        config.write_text(
            f'data_dir = "{tmp_path / "data"}"\n[telemetry]\notlp_endpoint = "{collector.url}"\n'
        )
        codec_port, port, ui_port = free_ports(3)
        env = clean_environment() | {
            "SLUICE_CODEC_PORT": str(codec_port),
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",  # the SDK's metrics too, not once a minute
        }
        command = [sys.executable, "worker.py", "--config", str(config), "--dev", "--examples"]
        command += ["--port", str(port), "--ui-port", str(ui_port)]
        log = (tmp_path / "worker.log").open("wb")
        worker = await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # Stopped once the sample runs are started and listed (a stop before that waits
            # for the listing), and spans and the SDK's metrics have arrived.
            await collector.wait_for(
                lambda: (
                    any(n.startswith("RunWorkflow:") for n in collector.span_names())
                    and any(n.startswith("temporal_") for n in collector.metric_names())
                    and "list waiting runs any time" in (tmp_path / "worker.log").read_text()
                ),
                seconds=120,
            )
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), 90)
            log.close()
    shown = (tmp_path / "worker.log").read_text()
    assert f"traces: OTLP {collector.url}/v1/traces (http/protobuf)" in shown
    assert {s.service for s in collector.spans} == {"sluice-worker"}
    # The SDK's own: workflow task latencies, polls, the sticky cache.
    assert "temporal_workflow_task_execution_latency" in collector.metric_names()
    assert not (tmp_path / "data" / "traces" / "spans.jsonl").exists()


async def test_the_traces_variable_names_the_collector_as_given_over_the_file(
    dev_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    async with OtlpCollector() as collector:
        config = tmp_path / "sluice.toml"
        config.write_text('[telemetry]\notlp_endpoint = "http://127.0.0.1:9"\n')
        env = cli_environment(dev_env, settings) | {
            "SLUICE_CONFIG": str(config),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector.url}/collector/traces",
            "OTEL_SERVICE_NAME": "desk-cli",
            "OTEL_METRICS_EXPORTER": "none",
        }
        started = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "starter.py", "start", "cargo-release", CLEAN],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert started.returncode == 0, started.stderr
        await collector.wait_for(lambda: collector.span_names("/collector/traces"), seconds=10)
    assert "StartWorkflow:CargoReleaseWorkflow" in collector.span_names("/collector/traces")
    assert {s.service for s in collector.spans} == {"desk-cli"}


async def test_otel_sdk_disabled_sends_nothing_anywhere(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with OtlpCollector() as collector:
        env = cli_environment(dev_env, settings) | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_SDK_DISABLED": "true",
        }
        started = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "starter.py", "start", "cargo-release", CLEAN],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert started.returncode == 0, started.stderr
    assert collector.spans == [] and collector.metrics == []
    assert not (settings.data_dir / "traces" / "spans.jsonl").exists()


def test_grpc_and_the_variables_choose_endpoint_and_protocol() -> None:
    settings = Settings()
    settings.telemetry.otlp_endpoint = "http://collector:4318/"
    assert otlp_target(settings, "traces", {}).endpoint == "http://collector:4318/v1/traces"  # type: ignore[union-attr]
    grpc = otlp_target(
        settings,
        "metrics",
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_HEADERS": "x-team=desk%201"},
    )
    assert grpc is not None
    assert (grpc.endpoint, grpc.protocol, dict(grpc.headers)) == (
        "http://collector:4318/",
        "grpc",
        {"x-team": "desk 1"},
    )
    sdk = sdk_metrics_config(settings, {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"})
    assert sdk is not None and not sdk.http and sdk.metric_periodicity == timedelta(minutes=1)
    assert sdk_metrics_config(Settings(), {}) is None  # no collector: no SDK metrics either
    # The gRPC exporter is there and built for the endpoint (the collector is not called).
    processor, destination = _span_processor(settings, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert destination == "OTLP http://collector:4318/ (grpc)"
    processor.shutdown()
    assert otlp_target(Settings(), "traces", {"OTEL_TRACES_EXPORTER": "otlp"}) is not None
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        otlp_target(Settings(), "traces", {"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ConfigError, match="http/json"):
        otlp_target(settings, "traces", {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"})


async def test_a_connector_call_carries_the_runs_trace_to_the_system_of_record() -> None:
    run = SpanContext(
        trace_id=0x5C1CE0000000000000000000000000AB,
        span_id=0x00000000000000CD,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with SystemOfRecordStub() as crm:
        crm.answer("/notes", 200, {"id": "N-1"})
        with trace.use_span(NonRecordingSpan(run)):
            await post_idempotent(
                crm.url, "/notes", {"text": "held"}, key="run-1/note", timeout_seconds=5
            )
        [request] = crm.requests
    version, trace_id, _parent, flags = request.headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", "5c1ce0000000000000000000000000ab", "01")


def test_a_json_log_line_names_its_trace_and_span() -> None:
    run = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=False, trace_flags=TraceFlags(1))
    record = logging.LogRecord("sluice.worker", logging.INFO, __file__, 1, "decided", None, None)
    with trace.use_span(NonRecordingSpan(run)):
        inside = json.loads(JsonLogFormatter().format(record))
    outside = json.loads(JsonLogFormatter().format(record))
    assert inside["trace_id"] == f"{0xABC:032x}" and inside["span_id"] == f"{0xDEF:016x}"
    assert "trace_id" not in outside
