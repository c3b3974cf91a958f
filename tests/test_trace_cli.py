"""``starter.py trace``: an operator draws a run from its start on the command line, through
the workflow, to every model call and the approval wait. ``starter.py`` runs as a real
process, writing its spans to the local trace file; the worker runs in this process and its
spans (kept in memory by the test session) are appended to the same file, as a worker
process on the same machine would."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from temporalio.testing import WorkflowEnvironment

from sluice.config import Settings
from sluice.telemetry import JsonLinesSpanExporter, Telemetry, read_spans
from sluice.timeline import spans_of_run
from tests.conftest import EXAMPLES, SESSION_SPANS
from tests.stubs.mistral_api import MistralStub
from tests.stubs.reading_model import read_like_a_model
from tests.support import starter, status_until
from tests.test_interceptor import use_mistral


async def test_trace_draws_the_run_from_the_cli_start_to_every_model_call_and_wait(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    telemetry: Telemetry,
) -> None:
    workflow_id = f"trace-{uuid.uuid4().hex[:8]}"
    anomaly = str(EXAMPLES / "cargo_release" / "anomaly.json")
    with MistralStub() as stub:
        use_mistral(settings, stub)
        stub.default_chat = read_like_a_model
        async with make_worker(telemetry.traced(dev_env.client)):
            started = await starter(
                dev_env, settings, "start", "cargo-release", anomaly, "--id", workflow_id
            )
            assert started.returncode == 0, started.stderr
            handle = dev_env.client.get_workflow_handle(workflow_id)
            await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
            approved = await starter(
                dev_env, settings, "approve", workflow_id, "--reviewer", "alice"
            )
            assert approved.returncode == 0, approved.stderr
            await status_until(handle, lambda s: s.state == "completed", what="the run completed")
            status = await starter(dev_env, settings, "status", workflow_id)

    spans_file = settings.data_dir / "traces" / "spans.jsonl"
    from_cli = spans_of_run(read_spans(spans_file), workflow_id)
    assert {s.name for s in from_cli} >= {"StartWorkflow:CargoReleaseWorkflow"}
    JsonLinesSpanExporter(spans_file).export(
        [s for s in SESSION_SPANS.get_finished_spans() if s.context is not None]
    )

    trace = await starter(dev_env, settings, "trace", workflow_id)
    assert trace.returncode == 0, trace.stderr
    lines = trace.stdout.splitlines()
    # One tree from the command that started the run down to each model call.
    start_line = next(i for i, line in enumerate(lines) if "StartWorkflow:" in line)
    run_line = next(i for i, line in enumerate(lines) if "RunWorkflow:" in line)
    assert start_line < run_line and "└─ RunWorkflow:CargoReleaseWorkflow" in lines[run_line]
    text = trace.stdout
    for step in ("Read bill of lading", "Cross-check documents", "Screen parties"):
        assert step in text
    model_lines = [line for line in lines if "chat mistral-small-latest" in line]
    assert len(model_lines) == 4
    assert all(" in / " in line and " out tokens" in line and "$" in line for line in model_lines)
    assert any("Wait for decision: customs_release  -> approved" in line for line in lines)
    assert "StartActivity:" not in text
    assert "model: 4 calls" in lines[-1]

    # The status shows the run's estimated model cost.
    assert status.returncode == 0, status.stderr
    assert "model: 4 calls" in status.stdout and "estimated $" in status.stdout

    # Without spans, the outline comes from the run's history, and says so.
    fallback = await starter(
        dev_env, settings, "trace", workflow_id, "--file", str(settings.data_dir / "none.jsonl")
    )
    assert fallback.returncode == 0, fallback.stderr
    assert "timings from the run's history" in fallback.stdout
    assert "Read bill of lading" in fallback.stdout
    assert "update decide accepted" in fallback.stdout


async def test_trace_of_an_unknown_run_is_one_clear_line(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    result = await starter(dev_env, settings, "trace", "no-such-run")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no run with id 'no-such-run'"
