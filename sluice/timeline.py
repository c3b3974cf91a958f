"""A run drawn as a timeline tree for the terminal (``starter.py trace``).

From the run's spans when the local trace file has them: every step with its duration and
attempts, each model call with its model, tokens, cost and any rate-limit wait, and the
approval and input waits. Without spans (tracing was off, or spans went to OTLP) the same outline is
derived from the run's Temporal history, with timings only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import PayloadConverter

from sluice.telemetry import SpanRecord

# Spans that add nothing a reader needs: zero-length scheduling spans and status polls.
_HIDDEN = ("StartActivity:", "QueryWorkflow:", "HandleQuery:")


def spans_of_run(spans: Iterable[SpanRecord], workflow_id: str) -> list[SpanRecord]:
    """Every span of the traces that touched the run (its start, its work, its decisions)."""
    spans = list(spans)
    traces = {
        span.trace_id
        for span in spans
        if workflow_id
        in (span.attributes.get("temporalWorkflowID"), span.attributes.get("temporal.workflow.id"))
    }
    return [span for span in spans if span.trace_id in traces]


def duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _model_details(span: SpanRecord) -> str:
    a = span.attributes
    parts = []
    if a.get("gen_ai.response.model") and a["gen_ai.response.model"] != a.get(
        "gen_ai.request.model"
    ):
        parts.append(f"-> {a['gen_ai.response.model']}")
    if "gen_ai.usage.input_tokens" in a or "gen_ai.usage.output_tokens" in a:
        parts.append(
            f"{a.get('gen_ai.usage.input_tokens', 0)} in / "
            f"{a.get('gen_ai.usage.output_tokens', 0)} out tokens"
        )
    if a.get("sluice.model.cost_usd") is not None:
        parts.append(f"${a['sluice.model.cost_usd']:.6f}")
    if a.get("temporal.activity.attempt", 1) > 1:
        parts.append(f"attempt {a['temporal.activity.attempt']}")
    if a.get("sluice.rate_limit.waited_seconds"):
        parts.append(f"waited {duration(a['sluice.rate_limit.waited_seconds'])} for rate limit")
    if a.get("sluice.rate_limit.throttled"):
        parts.append(f"throttled ({a['sluice.rate_limit.throttled']} limit)")
    return "  ".join(parts)


def _label(span: SpanRecord, children: Sequence[SpanRecord]) -> str:
    a = span.attributes
    if "gen_ai.operation.name" in a:
        text = f"{span.name}  {_model_details(span)}"
    elif "sluice.decision.kind" in a or "sluice.input.kind" in a:
        outcome = a.get("sluice.decision.outcome") or a.get("sluice.input.outcome")
        text = f"{span.name}" + (f"  -> {outcome}" if outcome else "  (still waiting)")
    elif "sluice.step" in a:
        attempts = sum(1 for c in children if c.name.startswith("RunActivity:"))
        text = span.name + (f"  ({attempts} attempts)" if attempts > 1 else "")
    else:
        text = span.name
    if span.status == "ERROR":
        text += f"  FAILED {a.get('error.type', '')}".rstrip()
    return text


def draw_spans(spans: Sequence[SpanRecord], workflow_id: str) -> list[str]:
    """The run's traces as indented trees with start offsets and durations, then totals."""
    by_id = {span.span_id: span for span in spans}

    def visible_parent(span: SpanRecord) -> str | None:
        parent = by_id.get(span.parent_id or "")
        while parent is not None and parent.name.startswith(_HIDDEN):
            parent = by_id.get(parent.parent_id or "")
        return parent.span_id if parent else None

    shown = [span for span in spans if not span.name.startswith(_HIDDEN)]
    children: dict[str | None, list[SpanRecord]] = defaultdict(list)
    for span in shown:
        children[visible_parent(span)].append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: s.start_ns)
    roots = children[None]
    if not roots:
        return [f"no spans recorded for {workflow_id}"]
    origin = roots[0].start_ns
    lines = [f"{'START':>9}  {'TOOK':>7}  {workflow_id}"]

    def draw(span: SpanRecord, prefix: str, last: bool, top: bool) -> None:
        kids = children.get(span.span_id, [])
        branch = "" if top else ("└─ " if last else "├─ ")
        offset = f"+{duration((span.start_ns - origin) / 1e9)}"
        lines.append(
            f"{offset:>9}  {duration(span.duration_seconds):>7}  "
            f"{prefix}{branch}{_label(span, kids)}"
        )
        inner = prefix if top else prefix + ("   " if last else "│  ")
        for i, kid in enumerate(kids):
            draw(kid, inner, i == len(kids) - 1, False)

    for root in roots:
        draw(root, "", True, True)
    lines.append(_totals(spans))
    return lines


def _totals(spans: Sequence[SpanRecord]) -> str:
    calls = [s for s in spans if "gen_ai.operation.name" in s.attributes]
    tokens_in = sum(int(s.attributes.get("gen_ai.usage.input_tokens", 0)) for s in calls)
    tokens_out = sum(int(s.attributes.get("gen_ai.usage.output_tokens", 0)) for s in calls)
    cost = sum(float(s.attributes.get("sluice.model.cost_usd", 0.0)) for s in calls)
    throttled = sum(1 for s in calls if s.attributes.get("sluice.rate_limit.throttled"))
    retries = sum(1 for s in spans if s.name.startswith("RunActivity:")) - sum(
        1 for s in spans if "sluice.step" in s.attributes
    )
    return (
        f"model: {len(calls)} calls, {tokens_in} input / {tokens_out} output tokens, "
        f"estimated ${cost:.6f}; rate-limited {throttled}; activity retries {max(retries, 0)}"
    )


# --- without spans: the outline from the run's history --------------------------------------


def _when(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime()


def _summary(event: HistoryEvent) -> str | None:
    """The step name the workflow gave the activity (its summary), from a decoded event."""
    if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
        return None
    try:
        value: Any = PayloadConverter.default.from_payload(event.user_metadata.summary, str)
    except Exception:
        return None
    return str(value)


def draw_history(events: Sequence[HistoryEvent], workflow_id: str) -> list[str]:
    """Steps (activities), attempts and decisions with timings, from history events whose
    summaries are already decoded."""
    if not events:
        return [f"no history for {workflow_id}"]
    origin = _when(events[0])
    steps: dict[int, dict[str, Any]] = {}
    lines = [f"{'START':>9}  {'TOOK':>7}  {workflow_id}"]

    def line(at: datetime, took: float | None, text: str) -> None:
        offset = f"+{duration((at - origin).total_seconds())}"
        shown = duration(took) if took is not None else "..."
        lines.append(f"{offset:>9}  {shown:>7}  {text}")

    endings = {
        "activity_task_completed_event_attributes": "",
        "activity_task_failed_event_attributes": "  FAILED",
        "activity_task_timed_out_event_attributes": "  TIMED OUT",
        "activity_task_canceled_event_attributes": "  CANCELLED",
    }
    for event in events:
        kind = event.WhichOneof("attributes")
        if kind == "activity_task_scheduled_event_attributes":
            steps[event.event_id] = {
                "name": _summary(event)
                or event.activity_task_scheduled_event_attributes.activity_type.name,
                "at": _when(event),
                "attempt": 1,
            }
        elif kind == "activity_task_started_event_attributes":
            started = event.activity_task_started_event_attributes
            steps[started.scheduled_event_id]["attempt"] = started.attempt
        elif kind in endings:
            step = steps.get(getattr(event, kind).scheduled_event_id)
            if step:
                step["done"] = True
                attempts = f"  ({step['attempt']} attempts)" if step["attempt"] > 1 else ""
                took = (_when(event) - step["at"]).total_seconds()
                line(step["at"], took, f"{step['name']}{attempts}{endings[kind]}")
        elif kind == "workflow_execution_signaled_event_attributes":
            name = event.workflow_execution_signaled_event_attributes.signal_name
            line(_when(event), 0, f"signal {name} received")
        elif kind == "workflow_execution_update_accepted_event_attributes":
            update = event.workflow_execution_update_accepted_event_attributes
            line(_when(event), 0, f"update {update.accepted_request.input.name} accepted")
    for step in steps.values():
        if not step.get("done"):
            line(step["at"], None, f"{step['name']}  (running)")
    end = _when(events[-1])
    lines.append(f"{'':>9}  {duration((end - origin).total_seconds()):>7}  total so far")
    return lines
