"""Several workers side by side, as `docker compose up --scale worker=2` runs them: two
`python worker.py` processes on one task queue against one Temporal server, configured the
way the containers are (key ring from SLUICE_CODEC_KEYS, JSON logs, a shared data volume).
One is SIGKILLed in the middle of a batch; the other finishes every run, and every business
action is on record exactly once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from activities.connectors.ledger import Ledger
from sluice.client import connect
from sluice.codec import codec_from_settings, key_ring_env_value
from sluice.config import Settings
from sluice.framework.process import RunStatus
from tests.conftest import example
from tests.faults.processes import DevServer, WorkerProcess
from tests.support import signed_signal

pytestmark = pytest.mark.faults

RUNS = 30
DEADLINE_SECONDS = 150


def worker_config(path: Path) -> Path:
    path.write_text(
        '[approvals.cargo_release]\nreviewers = { "*" = ["alice", "bob"] }\n'
        "sla_minutes = 600\nfinal_timeout_minutes = 1440\n"
    )
    return path


async def poller_identities(client: Client, task_queue: str) -> set[str]:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {poller.identity for poller in described.pollers}


async def until(check, seconds: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


async def status(client: Client, workflow_id: str) -> RunStatus | None:
    try:
        return await client.get_workflow_handle(workflow_id).query("status", result_type=RunStatus)
    except RPCError:
        return None


async def workflow_task_identities(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        event.workflow_task_completed_event_attributes.identity
        for event in history.events
        if event.HasField("workflow_task_completed_event_attributes")
    ]


async def test_a_worker_killed_mid_batch_leaves_every_run_to_the_other(
    tmp_path: Path, settings: Settings
) -> None:
    assert settings.codec.keys_file is not None
    server = DevServer(tmp_path / "temporal.sqlite", tmp_path / "server.log")
    server.start()
    settings.temporal.address = server.address
    container_like = {
        "TEMPORAL_ADDRESS": server.address,
        "SLUICE_TASK_QUEUE": settings.temporal.task_queue,
        "SLUICE_DATA_DIR": str(settings.data_dir),
        "SLUICE_CODEC_KEYS": key_ring_env_value(settings.codec.keys_file),
        "SLUICE_CODEC_KEYS_FILE": str(tmp_path / "no-such-file.json"),
        "SLUICE_CONFIG": str(worker_config(tmp_path / "sluice.toml")),
        "SLUICE_LOG_FORMAT": "json",
    }
    doomed, survivor = (
        WorkerProcess(name, tmp_path / f"{name}.log", container_like)
        for name in ("worker-1", "worker-2")
    )
    try:
        doomed.start()
        survivor.start()
        client = await connect(settings.temporal, codec=codec_from_settings(settings))
        assert doomed.process is not None and survivor.process is not None
        doomed_identity = f"{doomed.process.pid}@"
        survivor_identity = f"{survivor.process.pid}@"

        async def both_polling() -> bool:
            identities = await poller_identities(client, settings.temporal.task_queue)
            return all(
                any(identity.startswith(prefix) for identity in identities)
                for prefix in (doomed_identity, survivor_identity)
            )

        await until(both_polling, 60, "both workers to poll the task queue")

        # A third release at once, the rest wait for a customs officer's decision (not
        # alternating: the server tends to hand successive new runs to alternate workers).
        workflow_ids = []
        for n in range(RUNS):
            name = "clean" if n % 3 == 2 else "anomaly"
            workflow_id = f"scale-{name}-{n:02d}-{uuid.uuid4().hex[:6]}"
            await client.start_workflow(
                "CargoReleaseWorkflow",
                example("cargo_release", name),
                id=workflow_id,
                task_queue=settings.temporal.task_queue,
            )
            workflow_ids.append(workflow_id)

        async def begun_by_doomed_and_unfinished() -> list[str]:
            begun = []
            for workflow_id in workflow_ids:
                described = await client.get_workflow_handle(workflow_id).describe()
                if described.status != WorkflowExecutionStatus.RUNNING:
                    continue
                identities = await workflow_task_identities(client, workflow_id)
                if any(identity.startswith(doomed_identity) for identity in identities):
                    begun.append(workflow_id)
            return begun

        async def doomed_holds_a_waiting_run() -> bool:
            for workflow_id in await begun_by_doomed_and_unfinished():
                current = await status(client, workflow_id)
                if current is not None and current.pending_decision is not None:
                    return True
            return False

        # Once the doomed worker holds a run that cannot finish without it or the other:
        # SIGKILL, no warning, no cleanup, while the rest of the batch is still going.
        await until(doomed_holds_a_waiting_run, 60, "the doomed worker to hold a waiting run")
        await asyncio.to_thread(doomed.kill)
        in_flight = await begun_by_doomed_and_unfinished()
        assert in_flight

        async def all_settled() -> bool:
            for workflow_id in workflow_ids:
                current = await status(client, workflow_id)
                if current is None or (
                    current.state == "running" and current.pending_decision is None
                ):
                    return False
            return True

        # An activity the killed worker was running is retried once its start-to-close
        # timeout passes (90 s for a model call).
        await until(all_settled, DEADLINE_SECONDS, "every run to finish or wait for a decision")
        for workflow_id in workflow_ids:
            current = await status(client, workflow_id)
            if current is not None and current.pending_decision is not None:
                handle = client.get_workflow_handle(workflow_id)
                await handle.signal("approve", await signed_signal(handle, settings, "alice"))

        async def all_completed() -> Counter[str]:
            states: Counter[str] = Counter()
            for workflow_id in workflow_ids:
                described = await client.get_workflow_handle(workflow_id).describe()
                states[described.status.name if described.status else "UNKNOWN"] += 1
            done = states[WorkflowExecutionStatus.COMPLETED.name] == RUNS
            return states if done else Counter()

        await until(all_completed, DEADLINE_SECONDS, "every run to complete on the survivor")
        outcomes = Counter()
        for workflow_id in workflow_ids:
            finished = await status(client, workflow_id)
            assert finished is not None and finished.outcome is not None
            outcomes[str(finished.outcome.get("action"))] += 1
        finished_by = {
            workflow_id: (await workflow_task_identities(client, workflow_id))[-1]
            for workflow_id in in_flight
        }
        # `docker compose stop`: SIGTERM, and the worker winds down on its own.
        survivor.stop()
        assert survivor.process.returncode == 0
    finally:
        doomed.stop()
        survivor.stop()
        server.stop()

    assert outcomes == Counter({"released": RUNS}), outcomes
    # Runs the killed worker had begun were finished by the other, replaying their history.
    assert all(identity.startswith(survivor_identity) for identity in finished_by.values())
    # Every release and every notice once per run, whichever worker did it, however often
    # an activity was retried after the kill.
    recorded = Counter()  # (system, workflow id:step)
    for path in settings.data_dir.glob("*.sqlite3"):
        for entry in Ledger(path, path.stem).actions():
            recorded[path.stem, entry.idempotency_key] += 1
    assert all(count == 1 for count in recorded.values()), recorded
    for workflow_id in workflow_ids:
        steps = {key.partition(":")[2] for system, key in recorded if key.startswith(workflow_id)}
        assert {"release", "notify-consignee"} <= steps, (workflow_id, steps)
    # The survivor logged as a container does: one JSON object per line.
    lines = [line for line in survivor.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert any(record["message"].startswith("connected to Temporal") for record in records)
    assert records[-1]["message"] == "stopped"
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
