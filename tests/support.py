"""What many tests do the same way: the run driver (start a run of a declared process, wait
for a decision, decide with a signed decision, read the outcome), the ledgers the worker's
wiring writes, our CLI and the plain ``temporal`` CLI run as a user would, in their own
processes against the test's dev server, and waits until a run gets somewhere (by the clock,
so a slow, loaded machine only makes the wait longer)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from sluice.app.plugin import activity_name
from sluice.binaries import temporal_cli
from sluice.config import Settings
from sluice.framework import Process, Services
from sluice.framework.approval import ApproveSignal, DecisionInput, DecisionReceipt, RejectSignal
from sluice.framework.process import RunStatus
from sluice.framework.reviewer_notices import ReviewerNoticeActivities
from sluice.signing import as_signal, signed_decision
from tests.conftest import EXAMPLES

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def cli_environment(dev_env: WorkflowEnvironment, settings: Settings) -> dict[str, str]:
    """The environment a user's shell would give ``starter.py`` for this test's setup: none
    of this machine's own Temporal, Sluice, OpenTelemetry or Mistral settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "SLUICE_", "OTEL_", "MISTRAL_"))
    }
    env.update(
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        SLUICE_TASK_QUEUE=settings.temporal.task_queue,
        SLUICE_DATA_DIR=str(settings.data_dir),
        SLUICE_CODEC_KEYS_FILE=str(settings.codec.keys_file),
        SLUICE_PAYLOAD_DIR=str(settings.payloads.directory),
        SLUICE_INTAKE_DIR=str(settings.documents.intake_dir),
    )
    return env


async def starter(
    dev_env: WorkflowEnvironment, settings: Settings, *args: str, seconds: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python starter.py ARGS`` in its own process, without blocking the worker that runs
    in the test's event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "starter.py", *args],
        cwd=ROOT,
        env=cli_environment(dev_env, settings),
        capture_output=True,
        text=True,
        timeout=seconds,
    )


async def temporal(dev_env: WorkflowEnvironment, *args: str) -> subprocess.CompletedProcess[str]:
    """The plain ``temporal`` CLI (a client we did not write) against the test's dev server,
    with no configuration from this machine's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    address = dev_env.client.service_client.config.target_host
    return await asyncio.to_thread(
        subprocess.run,
        [temporal_cli(), *args, "--address", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def waiting_cargo_run(
    dev_env: WorkflowEnvironment, settings: Settings, workflow_id: str
) -> WorkflowHandle[Any, Any]:
    """A cargo release of the anomaly example, started with the plain ``temporal`` CLI (JSON
    from a file, as an operator would), once it waits for the officer's decision."""
    started = await temporal(
        dev_env,
        "workflow",
        "start",
        "--type",
        "CargoReleaseWorkflow",
        "--task-queue",
        settings.temporal.task_queue,
        "--workflow-id",
        workflow_id,
        "--input-file",
        str(EXAMPLES / "cargo_release" / "anomaly.json"),
    )
    assert started.returncode == 0, started.stderr
    handle = dev_env.client.get_workflow_handle(workflow_id)
    await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    return handle


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, seconds: float = 30, pause: float = 0.1, what: str
) -> T:
    """``check()``'s first truthy result, asked every ``pause`` seconds for ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(pause)


async def status_until(
    handle: WorkflowHandle[Any, Any],
    check: Callable[[RunStatus], bool],
    *,
    what: str,
    seconds: float = 30,
) -> RunStatus:
    """The run's status once ``check`` holds for it. A run that ends first fails the wait at
    once, with its status, instead of after the whole timeout."""
    deadline = time.monotonic() + seconds
    while True:
        status: RunStatus = await handle.query("status", result_type=RunStatus)
        if check(status):
            return status
        if status.state != "running":
            problem = f"the run ended before {what}"
        elif time.monotonic() > deadline:
            problem = f"timed out after {seconds:.0f} s waiting for {what}"
        else:
            await asyncio.sleep(0.05)
            continue
        raise AssertionError(f"{problem}: {status.model_dump_json(indent=1)}")


async def listed_with(
    handle: WorkflowHandle[Any, Any], key: SearchAttributeKey[Any], value: Any
) -> TypedSearchAttributes:
    """The run's search attributes once ``key`` shows ``value``. A query can see a workflow
    task's outcome a moment before the server has recorded that task's upserts (a run
    replayed for the query includes the task still in flight), so a test that waited on a
    query waits here too before it reads the attributes."""

    async def described() -> TypedSearchAttributes | None:
        attributes = (await handle.describe()).typed_search_attributes
        return attributes if attributes.get(key) == value else None

    return await eventually(described, what=f"{key.name} = {value!r}", seconds=10)


async def signed(
    handle: WorkflowHandle[Any, Any],
    settings: Settings,
    reviewer: str,
    verdict: str = "approve",
    **fields: Any,
) -> DecisionInput:
    """A decision by ``reviewer`` on the request ``handle``'s run waits on now, signed with
    the reviewer's test key, as ``starter.py approve`` signs it (``now=`` the time-skipping
    server's time, where a test skips time)."""
    status = await status_until(handle, lambda s: s.pending_decision is not None, what="a request")
    assert status.pending_decision is not None
    await reviewers_told(handle)
    return signed_decision(
        settings,
        reviewer=reviewer,
        workflow_id=handle.id,
        request_id=status.pending_decision.request_id,
        verdict=verdict,
        **fields,
    )


async def reviewers_told(handle: WorkflowHandle[Any, Any]) -> None:
    """Once the run has told its reviewers about the request, or its relay has failed once
    (the run retries it alongside the wait): a reviewer decides after being told, and every
    test decision waits for it.

    It also keeps the time-skipping test server clear of its own bug: a decision that lands
    while the notice is finishing makes the run cancel a notice that has just completed, in
    the same workflow task. The real server records that cancel and goes on; the test server
    answers ``ACTIVITY_UNKNOWN`` and the run never moves again (temporalio/sdk-java#2391)."""
    notice = activity_name(ReviewerNoticeActivities.notify_reviewers)

    async def told() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return not any(
            a.activity_type.name == notice and not a.HasField("last_failure") for a in pending
        )

    await eventually(told, what="the reviewers' notices to be sent", pause=0.02)


async def signed_signal(
    handle: WorkflowHandle[Any, Any],
    settings: Settings,
    reviewer: str,
    verdict: str = "approve",
    **fields: Any,
) -> ApproveSignal | RejectSignal:
    """The same, as the payload of an ``approve`` or ``reject`` signal."""
    return as_signal(await signed(handle, settings, reviewer, verdict, **fields))


# --- the run driver ------------------------------------------------------------------------


async def start_run(
    client: Client,
    settings: Settings,
    process: Process[Any],
    payload: BaseModel,
    *,
    workflow_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """A run of ``process`` on ``payload``, on the test's task queue, named by its subject
    unless ``workflow_id`` names it."""
    definition = workflow._Definition.must_from_class(process.workflow)
    return await client.start_workflow(
        definition.run_fn,
        payload,
        id=workflow_id or f"{process.command}-{process.subject(payload)}-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal.task_queue,
    )


async def until_decision_needed(handle: WorkflowHandle[Any, Any]) -> RunStatus:
    """The run's status once it waits for a decision and has told its reviewers (a test that
    lets time skip to the deadlines waits here first, for the reason ``reviewers_told``
    gives)."""
    status = await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    await reviewers_told(handle)
    return status


async def decide(
    handle: WorkflowHandle[Any, Any],
    settings: Settings,
    verdict: str,
    reviewer: str,
    **more: Any,
) -> DecisionReceipt:
    """Decide through the ``decide`` update, signed with the reviewer's test key, as
    ``starter.py approve/reject`` does (a refusal raises ``WorkflowUpdateFailedError``)."""
    receipt: DecisionReceipt = await handle.execute_update(
        "decide",
        await signed(handle, settings, reviewer, verdict, **more),
        result_type=DecisionReceipt,
    )
    return receipt


async def finished(handle: WorkflowHandle[Any, Any], *, seconds: float = 60) -> Any:
    """The run's result, or a clear failure (with its status) instead of a hang if it took a
    wrong path."""
    try:
        return await asyncio.wait_for(handle.result(), timeout=seconds)
    except TimeoutError:
        status = await handle.query("status", result_type=RunStatus)
        raise AssertionError(f"run did not finish: {status.model_dump_json(indent=1)}") from None


def wired(settings: Settings, maker: Callable[[Services], T]) -> T:
    """What the worker's wiring builds with ``maker`` for this configuration (by default an
    embedded ledger), so a test reads the very file the worker writes."""
    return maker(Services(settings, {}))
