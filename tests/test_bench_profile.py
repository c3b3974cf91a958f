"""Benchmark 1's profile attribution: each py-spy sample goes to the innermost part of the
layer on its stack, so a wrapper (Temporal's tracing interceptor, our model-call interceptor)
is not blamed for the work it wraps, and the shares add up to the whole."""

from __future__ import annotations

import pytest

from bench.profile import EVERYTHING_ELSE, attribute

SITE = "/venv/lib/python3.11/site-packages"
ACTIVITY = f"_ActivityWorker._execute_activity ({SITE}/temporalio/worker/_activity.py:712)"
TRACING_WRAPPER = (
    "_TracingActivityInboundInterceptor.execute_activity "
    f"({SITE}/temporalio/contrib/opentelemetry/_otel_interceptor.py:347)"
)
LEDGER = "Ledger._record (/work/main/activities/connectors/ledger.py:66)"
SPAN = f"Tracer.start_span ({SITE}/opentelemetry/sdk/trace/__init__.py:1195)"
IMPORT = f"_Instance._create_instance ({SITE}/temporalio/worker/workflow_sandbox/_in_sandbox.py:1)"
PYDANTIC = f"ModelMetaclass.__new__ ({SITE}/pydantic/_internal/_model_construction.py:1)"
POLL = f"Worker._poll ({SITE}/temporalio/worker/_worker.py:1)"
LOOP = "BaseEventLoop._run_once (/usr/lib/python3.11/asyncio/base_events.py:1)"
OTHER = f"Thing.work ({SITE}/some_library/thing.py:1)"


def stacks(*lines: tuple[list[str], int]) -> str:
    return "\n".join(";".join(frames) + f" {samples}" for frames, samples in lines)


def test_each_sample_goes_to_the_innermost_part_and_the_shares_add_up() -> None:
    profile = attribute(
        "worker",
        stacks(
            # A ledger write made under the tracing interceptor: the connector's.
            ([ACTIVITY, TRACING_WRAPPER, LEDGER], 5),
            # A span started by the tracing interceptor: tracing's.
            ([ACTIVITY, TRACING_WRAPPER, SPAN], 2),
            # The interceptor only passing the call on: not tracing.
            ([ACTIVITY, TRACING_WRAPPER], 1),
            ([IMPORT, PYDANTIC], 1),
            # The SDK's own work, by what it does, when no part of the layer is on the stack.
            ([LOOP, POLL], 1),
            ([LOOP], 2),
            ([LOOP, ACTIVITY, OTHER], 1),
        ),
    )
    assert profile.samples == 13
    shares = profile.shares
    assert shares["connector work (activities/)"] == pytest.approx(5 / 13)
    assert shares["... of which SQLite ledger writes"] == pytest.approx(5 / 13)
    assert shares["tracing (OpenTelemetry spans, span file)"] == pytest.approx(2 / 13)
    re_import = "workflow sandbox: re-importing the workflow's modules for each new run"
    assert shares[re_import] == pytest.approx(1 / 13)
    assert shares["... of which building pydantic model classes"] == pytest.approx(1 / 13)
    # The interceptor passing a call on, and a library the SDK calls: the activity worker's.
    assert shares["Temporal SDK: activity tasks"] == pytest.approx(2 / 13)
    assert shares["Temporal SDK: the bridge to its Rust core (polls, completions)"] == (
        pytest.approx(1 / 13)
    )
    assert shares["event loop and thread pools (asyncio, concurrent.futures)"] == (
        pytest.approx(2 / 13)
    )
    assert shares[EVERYTHING_ELSE] == 0
    top_level = [share for part, share in shares.items() if not part.startswith("...")]
    assert sum(top_level) == pytest.approx(1.0)


def test_a_thread_waiting_for_work_is_not_counted_as_work() -> None:
    pool = "_worker (/usr/lib/python3.11/concurrent/futures/thread.py:81)"
    epoll = "EpollSelector.select (/usr/lib/python3.11/selectors.py:468)"
    profile = attribute(
        "worker",
        stacks(
            ([ACTIVITY, LEDGER], 3),
            # Waiting: a pool thread on its queue, the event loop in epoll.
            ([pool], 4),
            ([LOOP, epoll], 2),
            # At work under the same frames: a pool thread running a ledger write.
            ([pool, LEDGER], 1),
        ),
    )
    assert profile.samples == 4 and profile.waiting_samples == 6
    assert profile.shares["connector work (activities/)"] == pytest.approx(1.0)
