"""Where a worker's CPU goes: py-spy samples a running worker process from outside (no change
to the worker), and each sample is put under one part of Sluice's layer: the innermost part
on its stack. Tracing and the interceptor wrap whole activities and workflow activations, so
a sample taken in a connector under them is the connector's, not theirs. The shares of the
parts, the SDK's own work and "everything else" add up to 100 %; an
"... of which" row is the part of the row above it that also shows the named frames.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

Frame = tuple[str, str]  # (function, file path)


def _in(
    *fragments: str,
    functions: frozenset[str] | None = None,
    besides: tuple[str, ...] = (),
    passing_on: frozenset[str] = frozenset(),
) -> Callable[[Frame], bool]:
    """Frames in files whose path holds one of ``fragments`` and none of ``besides`` (limited
    to ``functions``, and never the ``passing_on`` ones, by name without class: code the
    sandbox compiles shows unqualified names); a module's top level (``<module>``, i.e.
    importing it) never counts."""

    def matches(frame: Frame) -> bool:
        function, path = frame
        if function == "<module>" or not any(fragment in path for fragment in fragments):
            return False
        if any(fragment in path for fragment in besides):
            return False
        name = function.rsplit(".", 1)[-1]
        return (functions is None or name in functions) and name not in passing_on

    return matches


def _named(*functions: str) -> Callable[[Frame], bool]:
    return lambda frame: frame[0] in functions


# The process plumbing that keeps the audit trail, the timeline, details and search attributes.
_RECORD_KEEPING = frozenset(
    {
        "record", "record_model", "begin", "set_risk", "complete", "status", "_refresh_details",
        "record_findings", "record_screening", "_set_status", "of_kind",
    }
)  # fmt: skip

# Interceptor methods that only pass a call on to the next interceptor (their own checks are
# functions of their own): the work below them is not the interceptor's.
_PASSING_ON = frozenset(
    {
        "execute_workflow", "handle_signal", "handle_query", "handle_update_validator",
        "handle_update_handler", "execute_activity", "start_activity", "start_local_activity",
        "_in_step_span",
    }
)  # fmt: skip

# Each part of the layer, as the frames that show it is running.
PARTS: dict[str, Callable[[Frame], bool]] = {
    "workflow sandbox: re-importing the workflow's modules for each new run": _named(
        "_Instance._create_instance"
    ),
    "... of which building pydantic model classes": _named("ModelMetaclass.__new__"),
    "workflow sandbox: running workflow code": _named("_Instance.activate"),
    "audit trail, step timeline, details, search attributes": _in(
        "sluice/framework/audit.py",
        "sluice/framework/approval.py",
        "sluice/framework/process.py",
        functions=_RECORD_KEEPING,
    ),
    # Temporal's tracing interceptors only pass each call on (inside them, the spans are made
    # by OpenTelemetry's own code, which counts): they are not counted as tracing.
    "tracing (OpenTelemetry spans, span file)": _in(
        "/opentelemetry/", "sluice/telemetry.py", besides=("contrib/opentelemetry/_otel_",)
    ),
    "payload encryption (codec)": _in("sluice/codec.py", "/cryptography/"),
    "model-call interceptor, metering and message checks": _in(
        "sluice/interceptor.py",
        "sluice/metering.py",
        "sluice/ratelimit.py",
        passing_on=_PASSING_ON,
    ),
    "payload conversion (pydantic JSON)": _in(
        "temporalio/converter/", "temporalio/contrib/pydantic"
    ),
    "connector work (activities/)": _in("/activities/"),
    "... of which SQLite ledger writes": _in("activities/connectors/ledger.py"),
}


# The Temporal SDK's own work, by what it is doing: a sample counts here only when none of the
# parts above is on its stack (the work the SDK does for them is theirs).
SDK_PARTS: dict[str, Callable[[Frame], bool]] = {
    "Temporal SDK: walking each task's payloads (for the codec)": _in(
        "temporalio/bridge/_visitor.py", "temporalio/worker/_command_aware_visitor.py"
    ),
    "Temporal SDK: activity tasks": _in("temporalio/worker/_activity.py"),
    "Temporal SDK: workflow tasks outside the sandbox": _in("temporalio/worker/_workflow.py"),
    "Temporal SDK: the bridge to its Rust core (polls, completions)": _in(
        "temporalio/bridge/", "temporalio/worker/_worker.py"
    ),
    "event loop and thread pools (asyncio, concurrent.futures)": _in(
        "/asyncio/", "/concurrent/futures/", "/threading.py", "/selectors.py", "/queue.py"
    ),
}


class Profile(BaseModel):
    """Samples of one worker over one measured round, by part of the layer."""

    worker: str
    # Samples of a thread at work; the shares are of these.
    samples: int
    shares: dict[str, float]
    # Samples of a thread waiting (see ``WAITING``), left out of the shares.
    waiting_samples: int = 0


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Sampling:
    """``py-spy record`` attached to a process until ``stop()``."""

    def __init__(self, pid: int, output: Path, rate: int = 100) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self.child: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        tool = py_spy()
        if tool is None:
            raise RuntimeError("py-spy is not installed: pip install -e .[bench]")
        self.child = await asyncio.create_subprocess_exec(
            tool, "record", "--pid", str(self.pid), "--rate", str(self.rate),
            "--format", "raw", "--full-filenames", "--nonblocking", "--output", str(self.output),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # py-spy needs a moment to attach; samples before that are simply not taken.
        await asyncio.sleep(0.5)

    async def stop(self, worker: str) -> Profile:
        assert self.child is not None
        # Ctrl-C makes py-spy stop sampling and write what it has.
        self.child.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(self.child.communicate(), timeout=60)
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {err.decode(errors='replace')[-300:]}")
        return attribute(worker, self.output.read_text(encoding="utf-8", errors="replace"))


EVERYTHING_ELSE = "everything else (other library code)"


# Where a thread waits: a thread pool's thread for work (``work_queue.get``), the event loop
# in ``epoll``. py-spy cannot tell such a thread is idle when it is woken but not yet running
# (both cores busy), so it samples it; their count follows the round's length, not its work.
WAITING = (
    ("_worker", "/concurrent/futures/thread.py"),
    ("EpollSelector.select", "/selectors.py"),
    ("select", "/selectors.py"),
)


def attribute(worker: str, collapsed: str) -> Profile:
    """Share of samples under each part, from py-spy's collapsed stacks (outermost frame
    first): a sample goes to the part whose frame is innermost on its stack. Samples whose
    innermost frame is a wait are counted apart, so that the shares are of CPU: summed, the
    samples of work are about the worker's CPU time times the sampling rate."""
    total = 0
    waiting = 0
    hits: Counter[str] = Counter()
    parents = _parents()
    for line in collapsed.splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        frames = [_frame(frame) for frame in stack.split(";")]
        function, path = frames[-1]
        if any(function == name and path.endswith(file) for name, file in WAITING):
            waiting += samples
            continue
        total += samples
        innermost: dict[str, int] = {}
        for part, shows in PARTS.items():
            depths = [depth for depth, frame in enumerate(frames) if shows(frame)]
            if depths:
                innermost[part] = depths[-1]
        owners = {part: depth for part, depth in innermost.items() if part not in parents}
        if not owners:
            hits[_sdk_part(frames)] += samples
            continue
        owner = max(owners, key=lambda part: owners[part])
        hits[owner] += samples
        for sub, parent in parents.items():
            if parent == owner and sub in innermost:
                hits[sub] += samples
    return Profile(
        worker=worker,
        samples=total,
        shares={
            part: hits[part] / total if total else 0.0
            for part in [*PARTS, *SDK_PARTS, EVERYTHING_ELSE]
        },
        waiting_samples=waiting,
    )


def _sdk_part(frames: list[Frame]) -> str:
    """The SDK part whose frame is innermost on a stack none of the layer's parts is on."""
    found = {
        part: max(depth for depth, frame in enumerate(frames) if shows(frame))
        for part, shows in SDK_PARTS.items()
        if any(shows(frame) for frame in frames)
    }
    return max(found, key=lambda part: found[part]) if found else EVERYTHING_ELSE


def _parents() -> dict[str, str]:
    """Each "... of which" part and the part listed above it."""
    parents: dict[str, str] = {}
    above = ""
    for part in PARTS:
        if part.startswith("..."):
            parents[part] = above
        else:
            above = part
    return parents


def _frame(frame: str) -> Frame:
    """``function (path:line)`` as (function, path)."""
    function, _, where = frame.partition(" (")
    return function.strip(), where.rsplit(":", 1)[0]
