"""Worker logs: plain lines on a console, one JSON object per line in a container.

A JSON line carries the time, level, logger and message, and the ids Temporal attaches to
records logged from workflow and activity code (workflow id, run id, workflow type, activity
id and type, attempt, task queue, namespace), so a log search for one run finds all of its
lines, whichever worker wrote them; and, inside a traced operation, the ``trace_id`` and
``span_id`` of the current span, so a line leads to its trace and back. Exception messages
are left out, since they may quote an input (a name, a document); the exception's type and
where it was raised stay.

``SLUICE_LOG_FORMAT=json`` (or ``log_format = "json"``) selects it; ``docker-compose.yml``
sets it for every Sluice container.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace as otel_trace
from temporalio import activity, workflow
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    OpenTelemetryConfig,
    Runtime,
    TelemetryConfig,
)

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The parts of Temporal's ``temporal_workflow`` / ``temporal_activity`` log extras we keep,
# under the names a log search uses. Only ids, types, counters and queue names: no payloads.
WORKFLOW_FIELDS = {
    "workflow_id": "workflow_id",
    "run_id": "run_id",
    "workflow_type": "workflow_type",
    "attempt": "attempt",
    "task_queue": "task_queue",
    "namespace": "namespace",
    "update_id": "update_id",
    "update_name": "update_name",
}
ACTIVITY_FIELDS = {
    "workflow_id": "workflow_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_id": "activity_id",
    "activity_type": "activity_type",
    "attempt": "attempt",
    "task_queue": "task_queue",
    "namespace": "namespace",
}

_json_active = False


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record, with Temporal's workflow and activity ids as fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for extra, fields in (
            ("temporal_workflow", WORKFLOW_FIELDS),
            ("temporal_activity", ACTIVITY_FIELDS),
        ):
            details = getattr(record, extra, None)
            if isinstance(details, dict):
                entry.update({name: details[key] for key, name in fields.items() if key in details})
        span = otel_trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = f"{span.trace_id:032x}"
            entry["span_id"] = f"{span.span_id:016x}"
        if record.exc_info and record.exc_info[0] is not None:
            error, _, trace = record.exc_info
            entry["error_type"] = error.__qualname__
            frames = traceback.extract_tb(trace)
            if frames:
                last = frames[-1]
                entry["error_at"] = f"{last.filename}:{last.lineno} in {last.name}"
        return json.dumps(entry, default=str)


def configure_logging(
    log_format: LogFormat = "text",
    level: int = logging.INFO,
    *,
    sdk_metrics: OpenTelemetryConfig | None = None,
) -> None:
    """Send every log record to stderr in the given format (replacing earlier handlers).

    ``sdk_metrics`` (see ``sluice.telemetry.sdk_metrics_config``) sends the Temporal SDK's
    own metrics to an OTLP collector: set with the SDK's runtime, before any client exists."""
    global _json_active
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
        # The ids are fields of the JSON line: not appended to the message a second time.
        workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
        _json_everything_else()
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    _forward_core_logs(sdk_metrics)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    _json_active = log_format == "json"


def _json_everything_else() -> None:
    """What would otherwise reach stderr in another format goes through logging too: Python
    warnings, and an unexpected crash (type and place only)."""
    logging.captureWarnings(True)
    sys.excepthook = lambda kind, error, trace: logging.getLogger("sluice").critical(
        "stopped by an unexpected error", exc_info=(kind, error, trace)
    )


def _forward_core_logs(sdk_metrics: OpenTelemetryConfig | None) -> None:
    """The SDK core's own warnings go through Python logging (``temporalio.core``), in the
    format of every other line, instead of straight to stderr with terminal colours; its
    metrics go to ``sdk_metrics`` when given."""
    core = LoggingConfig(
        filter=LoggingConfig.default.filter,
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    try:
        Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=core, metrics=sdk_metrics)))
    except RuntimeError:
        pass  # a client exists already and keeps its runtime


class Silence(logging.Filter):
    """Drops log lines containing ``text``: for a line known to be noise (each use says why)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def announce(message: str) -> None:
    """A line for whoever runs the worker: printed on a console; under JSON logs, a log record
    of ``sluice.worker``, so a container's output stays one JSON object per line."""
    if _json_active:
        logging.getLogger("sluice.worker").info(message)
    else:
        print(message, flush=True)
