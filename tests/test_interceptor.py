"""The AI interceptor on real runs: the real ``mistralai`` SDK against MistralStub, a real
Temporal dev server, spans and metrics exported to memory.

A cargo release run's trace reads like the run, with a GenAI span per model call whose token
counts are the ones the server reported; a forced replay emits no span twice; a provider's 429
holds every call back until Retry-After; a burst of runs keeps to a low request limit across
two workers; an exhausted token budget hands the slot back to Temporal and the run still ends.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client, WorkflowHandle

from activities.cargo.models import Shipment
from sluice.config import RateLimitSettings, Settings
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from sluice.ratelimit import queue_dispatch_rate
from sluice.telemetry import OncePerSpan, SpanRecord, Telemetry
from sluice.timeline import spans_of_run
from tests.conftest import SESSION_METRICS, SESSION_SPANS, example
from tests.stubs.mistral_api import CHAT_PATH, MistralStub
from tests.stubs.reading_model import read_like_a_model
from tests.support import finished, signed_signal, start_run
from workflows import cargo_release

# What the clean example's documents say, as a model reading any of them would answer.
CLEAN_FIELDS = {
    "document_kind": "bill_of_lading",
    "shipment_id": "SHP-2026-0418",
    "shipper": "Hanseatic Machine Tools GmbH",
    "consignee": "Lakeside Fabrication Ltd",
    "gross_weight_kg": 8420,
    "package_count": 12,
    "hs_codes": ["845961"],
    "declared_value": 184500.0,
    "currency": "EUR",
}
STEPS = {
    "Load approval policy",
    "Read bill of lading",
    "Read commercial invoice",
    "Read packing list",
    "Read customs declaration",
    "Cross-check documents",
    "Screen parties",
    "Release cargo",
    "Notify consignee",
}


@pytest.fixture
def stub() -> Iterator[MistralStub]:
    with MistralStub() as running:
        yield running


@pytest.fixture
def traced(client: Client, telemetry: Telemetry) -> Client:
    """The test client with Temporal's tracing plugin: the run's trace starts here."""
    return telemetry.traced(client)


def use_mistral(settings: Settings, stub: MistralStub, **limits: Any) -> None:
    settings.model.provider = "mistral"
    settings.model.mistral_api_key = "test-key"
    settings.model.mistral_server_url = stub.url
    settings.model.limits = RateLimitSettings(**{"requests_per_minute": 6000, **limits})


async def start(client: Client, settings: Settings, name: str) -> WorkflowHandle[Any, Any]:
    shipment = Shipment.model_validate(example("cargo_release", name))
    return await start_run(
        client,
        settings,
        cargo_release.PROCESS,
        shipment,
        workflow_id=f"traced-{name}-{uuid.uuid4().hex[:8]}",
    )


def run_spans(workflow_id: str) -> list[SpanRecord]:
    return spans_of_run(map(SpanRecord.of, SESSION_SPANS.get_finished_spans()), workflow_id)


def model_spans(spans: list[SpanRecord]) -> list[SpanRecord]:
    return [s for s in spans if "gen_ai.operation.name" in s.attributes]


def metric_points(name: str, **match: str) -> list[Any]:
    data = SESSION_METRICS.get_metrics_data()
    points = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    points += [
                        p
                        for p in metric.data.data_points
                        if all(p.attributes.get(k) == v for k, v in match.items())
                    ]
    return points


def throttles(reason: str) -> int:
    return sum(
        p.value
        for p in metric_points("sluice.model.throttles", **{"sluice.rate_limit.reason": reason})
    )


@pytest.fixture
async def clean_start() -> AsyncIterator[None]:
    """Each test reads only its own spans; the session's are cleared first."""
    SESSION_SPANS.clear()
    yield


async def test_a_cargo_release_trace_reads_like_the_run_with_a_genai_span_per_model_call(
    traced: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    stub: MistralStub,
    clean_start: None,
) -> None:
    use_mistral(settings, stub)
    reported = [(1210, 81), (1320, 92), (1430, 103), (1540, 114)]
    answering_model = f"mistral-small-{uuid.uuid4().hex[:6]}"
    for input_tokens, output_tokens in reported:
        stub.enqueue_chat(
            CLEAN_FIELDS,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=answering_model,
        )
    async with make_worker(traced):
        handle = await start(traced, settings, "clean")
        outcome = await finished(handle, seconds=90)
        status = await handle.query("status", result_type=RunStatus)
        trail = await handle.query("audit", result_type=AuditTrail)
    assert outcome.action == "released"

    spans = run_spans(handle.id)
    by_id = {s.span_id: s for s in spans}

    def parent(span: SpanRecord) -> SpanRecord:
        return by_id[span.parent_id or ""]

    # The trace starts where the run was started, and the workflow hangs under it.
    (root,) = [s for s in spans if s.parent_id not in by_id]
    assert (root.name, root.kind) == ("StartWorkflow:CargoReleaseWorkflow", "CLIENT")
    (run,) = [s for s in spans if s.name == "RunWorkflow:CargoReleaseWorkflow"]
    assert parent(run) is root
    # One span per step of the run's own timeline, each a child of the workflow's span.
    steps = [s for s in spans if "sluice.step" in s.attributes]
    assert sorted(s.name for s in steps) == sorted(step.name for step in status.steps)
    assert STEPS <= {s.name for s in steps}
    assert all(parent(step) is run for step in steps)

    # Every document read is one model call: step > activity > "chat <model>" span.
    calls = model_spans(spans)
    assert len(calls) == 4 and stub.count(CHAT_PATH) == 4
    for call in calls:
        activity = parent(call)
        assert activity.name == "RunActivity:extract_cargo_document"
        assert parent(parent(activity)).name.startswith("Read ")
        assert (call.name, call.kind) == ("chat mistral-small-latest", "CLIENT")
        a = call.attributes
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "mistral_ai"
        assert a["gen_ai.request.model"] == "mistral-small-latest"
        assert a["gen_ai.response.model"] == answering_model
        assert a["gen_ai.response.id"].startswith("cmpl-")
        assert a["gen_ai.response.finish_reasons"] == ("stop",)
        # What was asked: the prompt by name and version, JSON at temperature 0, from where.
        assert a["gen_ai.prompt.name"] == "extract_document"
        assert a["sluice.prompt.version"].startswith("v1+")
        assert (a["gen_ai.output.type"], a["gen_ai.request.temperature"]) == ("json", 0.0)
        assert a["server.address"] == "127.0.0.1" and isinstance(a["server.port"], int)
        assert a["temporal.workflow.id"] == handle.id
        assert a["temporal.workflow.type"] == "CargoReleaseWorkflow"
        assert a["temporal.activity.attempt"] == 1
        assert a["sluice.domain"] == "cargo_release"
        assert "error.type" not in a
        # Prompts carry personal data: not recorded unless switched on.
        assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a

    # Token counts are exactly what the server reported, and priced from the table.
    tokens = sorted(
        (c.attributes["gen_ai.usage.input_tokens"], c.attributes["gen_ai.usage.output_tokens"])
        for c in calls
    )
    assert tokens == reported
    price = settings.model.prices["mistral-small-latest"]
    expected_cost = sum(price.cost_usd(i, o) for i, o in reported)
    assert sum(c.attributes["sluice.model.cost_usd"] for c in calls) == pytest.approx(expected_cost)
    recorded = {e.detail["response_id"] for e in trail.of_kind("model_output")}
    assert recorded == {c.attributes["gen_ai.response.id"] for c in calls}

    # The run's totals are in the audit trail and its status.
    assert status.model_usage == {
        "input_tokens": sum(i for i, _ in reported),
        "output_tokens": sum(o for _, o in reported),
        "calls": 4,
    }
    assert status.model_cost_usd == pytest.approx(expected_cost)
    (completed,) = trail.of_kind("completed")
    assert completed.detail["model_cost_usd"] == pytest.approx(expected_cost)
    assert completed.detail["model_usage"] == status.model_usage

    # And the GenAI metrics counted the same tokens.
    usage = metric_points("gen_ai.client.token.usage", **{"gen_ai.response.model": answering_model})
    by_type = {p.attributes["gen_ai.token.type"]: p.sum for p in usage}
    assert by_type == {"input": sum(i for i, _ in reported), "output": sum(o for _, o in reported)}
    durations = metric_points(
        "gen_ai.client.operation.duration", **{"gen_ai.response.model": answering_model}
    )
    assert sum(p.count for p in durations) == 4


async def test_model_calls_run_on_their_own_task_queue(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, "clean")
        await finished(handle, seconds=90)
        history = await handle.fetch_history()
    queues = {
        event.activity_task_scheduled_event_attributes.activity_type.name: (
            event.activity_task_scheduled_event_attributes.task_queue.name
        )
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    }
    queue = settings.temporal.task_queue
    assert queues.pop("extract_cargo_document") == f"{queue}-models"
    assert set(queues.values()) == {queue}


async def test_prompts_and_answers_are_recorded_only_when_switched_on(
    traced: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    stub: MistralStub,
    clean_start: None,
) -> None:
    use_mistral(settings, stub)
    settings.telemetry.capture_content = True
    stub.default_chat = read_like_a_model
    async with make_worker(traced):
        handle = await start(traced, settings, "clean")
        await finished(handle, seconds=90)
    calls = model_spans(run_spans(handle.id))
    assert len(calls) == 4
    for call in calls:
        (message,) = json.loads(call.attributes["gen_ai.input.messages"])
        assert message["role"] == "user"
        assert "SHP-2026-0418" in message["parts"][0]["content"]
        (answer,) = json.loads(call.attributes["gen_ai.output.messages"])
        assert json.loads(answer["parts"][0]["content"])["shipment_id"] == "SHP-2026-0418"


async def test_a_forced_replay_emits_every_span_once(
    traced: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    telemetry: Telemetry,
    clean_start: None,
) -> None:
    assert telemetry.spans is not None
    repeated = telemetry.spans.repeated
    # No workflow cache: every workflow task replays the run's history from the start.
    async with make_worker(traced, max_cached_workflows=0):
        handle = await start(traced, settings, "anomaly")
        await until_timer(handle)
        await handle.signal(
            "approve",
            await signed_signal(handle, settings, "alice", comment="short-shipped, agreed"),
        )
        outcome = await finished(handle, seconds=90)
        status = await handle.query("status", result_type=RunStatus)
    assert outcome.action == "released"

    # Replays ended no span a second time (nothing had to be dropped on export)...
    assert telemetry.spans.repeated == repeated
    spans = run_spans(handle.id)
    assert len({s.span_id for s in spans}) == len(spans)
    # ...and every part of the run is there exactly once.
    names = Counter(s.name for s in spans)
    assert names["StartWorkflow:CargoReleaseWorkflow"] == 1
    assert names["RunWorkflow:CargoReleaseWorkflow"] == 1
    assert names["HandleSignal:approve"] == 1
    assert names["RunActivity:extract_cargo_document"] == 4
    for step in status.steps:
        assert names[step.name] == 1, step.name
    (wait,) = [s for s in spans if s.name == "Wait for decision: customs_release"]
    assert wait.attributes["sluice.decision.outcome"] == "approved"
    assert len(model_spans(spans)) == 4


async def until_timer(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the run waits on its approval timer, read from history rather than queried (a
    query on a workflow out of cache would replay it as well, see the next test)."""
    for _ in range(400):
        history = await handle.fetch_history()
        if any(e.HasField("timer_started_event_attributes") for e in history.events):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the run never started waiting")


def test_a_span_ended_twice_with_the_same_id_is_exported_once() -> None:
    # A query on a workflow out of cache can run its newest workflow task once just to
    # answer, ending that task's spans (same deterministic ids) before the real run does.
    exported = InMemorySpanExporter()
    once = OncePerSpan(SimpleSpanProcessor(exported))
    provider = TracerProvider()
    provider.add_span_processor(once)
    span = provider.get_tracer("test").start_span("Screen parties")
    span.end()
    assert isinstance(span, ReadableSpan)
    once.on_end(span)
    assert [s.name for s in exported.get_finished_spans()] == ["Screen parties"]
    assert once.repeated == 1


async def test_a_429_is_honoured_and_holds_back_every_call_until_retry_after(
    traced: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    stub: MistralStub,
    clean_start: None,
) -> None:
    use_mistral(settings, stub)
    stub.enqueue_error(429, headers={"Retry-After": "2"})
    stub.default_chat = read_like_a_model
    provider_throttles = throttles("provider")
    async with make_worker(traced):
        first = await start(traced, settings, "clean")
        refused = await until_span(first.id, lambda s: "error.type" in s.attributes)
        # A run started after the 429 waits for Retry-After before calling the model.
        second = await start(traced, settings, "clean")
        assert (await finished(first)).action == "released"
        assert (await finished(second)).action == "released"
        trail = await first.query("audit", result_type=AuditTrail)

    assert refused.attributes["error.type"] == "ModelRateLimited"
    assert refused.attributes["sluice.rate_limit.throttled"] == "provider"
    allowed_from = refused.end_ns + 2 * 10**9 - 50 * 10**6
    retried = [
        s
        for s in model_spans(run_spans(first.id))
        if s.attributes["temporal.activity.attempt"] == 2
    ]
    assert len(retried) == 1 and retried[0].start_ns >= allowed_from
    later = model_spans(run_spans(second.id))
    assert len(later) == 4
    for call in later:
        sent_at = call.start_ns + call.attributes.get("sluice.rate_limit.waited_seconds", 0) * 1e9
        assert sent_at >= allowed_from
        assert any(e["attributes"]["sluice.rate_limit.reason"] == "provider" for e in call.events)
    assert throttles("provider") > provider_throttles
    assert sorted(e.detail["attempt"] for e in trail.of_kind("model_output")) == [1, 1, 1, 2]
    # The step whose model call was refused once says so in the audit trail.
    (retry,) = trail.of_kind("retry")
    assert retry.summary.startswith("Read ") and retry.summary.endswith("succeeded on attempt 2")


async def until_span(workflow_id: str, match: Callable[[SpanRecord], bool]) -> SpanRecord:
    for _ in range(400):
        found = [s for s in model_spans(run_spans(workflow_id)) if match(s)]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError("no such span")


async def test_a_burst_of_runs_keeps_to_a_low_request_limit_across_two_workers(
    client: Client, settings: Settings, make_worker: Callable[..., Any], stub: MistralStub
) -> None:
    per_minute = 120
    use_mistral(settings, stub, requests_per_minute=per_minute)
    sent: list[float] = []

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        sent.append(time.monotonic())
        return read_like_a_model(request)

    stub.default_chat = answer
    # A second worker process would have its own connection: so does this one.
    other = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=client.data_converter,
    )
    async with make_worker(client), make_worker(other):
        handles = [await start(client, settings, "clean") for _ in range(3)]
        outcomes = await asyncio.gather(*(finished(handle) for handle in handles))

    assert [outcome.action for outcome in outcomes] == ["released"] * 3
    assert len(sent) == 12 and stub.responses_by_status[429] == 0
    # 12 calls at the queue's pace (1.9 a second: 114 of the 120 a minute, the rest kept for
    # what the server's four partitions let through at once) cannot all go out in less than
    # about four seconds.
    pace = queue_dispatch_rate(settings.model.limits)
    assert pace == pytest.approx(1.9)
    at_once = 4
    assert max(sent) - min(sent) >= (len(sent) - at_once) / pace - 1


async def test_an_exhausted_token_budget_hands_the_slot_back_and_every_run_still_ends(
    traced: Client,
    settings: Settings,
    make_worker: Callable[..., Any],
    stub: MistralStub,
    clean_start: None,
) -> None:
    # A one-second bucket that fits one call at a time, and no waiting in the worker:
    # a call that does not fit fails at once with a retry when capacity returns.
    use_mistral(
        settings,
        stub,
        tokens_per_minute=60_000,
        burst_seconds=1,
        expected_output_tokens=1000,
        max_wait_seconds=0,
    )
    stub.default_chat = read_like_a_model
    token_throttles = throttles("tokens")
    async with make_worker(traced):
        handle = await start(traced, settings, "clean")
        outcome = await finished(handle, seconds=90)
    assert outcome.action == "released"

    calls = model_spans(run_spans(handle.id))
    held = [c for c in calls if c.attributes.get("sluice.rate_limit.throttled") == "tokens"]
    assert held, "the budget never held a call back"
    for call in held:
        assert call.attributes["error.type"] == "ModelRateLimited"
    assert len([c for c in calls if "error.type" not in c.attributes]) == 4
    assert stub.count(CHAT_PATH) == 4  # a held-back call never reached the provider
    assert throttles("tokens") >= token_throttles + len(held)
