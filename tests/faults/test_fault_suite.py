"""The fault suite: a batch of runs of every process, decisions given at random moments,
workers killed with SIGKILL several times and the Temporal server killed and restarted once
(its SQLite file persists). At the end every run has reached its terminal state and every
business action is in its system of record exactly once per run.

CI runs at least 100 runs; set SLUICE_FAULT_RUNS for more locally.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from activities.connectors.ledger import Ledger, LedgerEntry
from sluice.app.catalog import PROCESSES
from sluice.app.inputs import read_input
from sluice.client import connect
from sluice.codec import codec_from_settings
from sluice.config import Settings
from sluice.framework.process import RunStatus
from sluice.payload_store import payload_storage
from tests.conftest import EXAMPLES
from tests.faults.processes import DevServer, WorkerProcess
from tests.people import act_on

pytestmark = pytest.mark.faults

RUNS = int(os.environ.get("SLUICE_FAULT_RUNS", "100" if os.environ.get("CI") else "200"))
DEADLINE_SECONDS = 480
REVIEWERS = ["alice", "bob", "carol", "dave"]


def worker_config(path: Path) -> Path:
    """A configuration every worker process reads: all processes, generous SLAs."""
    lines = []
    for process in PROCESSES:
        lines += [
            f"[approvals.{process.domain}]",
            f'reviewers = {{ "*" = {json.dumps(REVIEWERS)} }}',
            "sla_minutes = 600",
            "final_timeout_minutes = 1440",
            "",
        ]
    path.write_text("\n".join(lines))
    return path


def inputs() -> list[tuple[Any, Path, Any]]:
    """Every example of every process, as (process, file, payload)."""
    found = []
    for process in PROCESSES:
        for path in sorted((EXAMPLES / process.command.replace("-", "_")).glob("*.json")):
            found.append((process, path, read_input(process, path)))
    return found


async def act_at_random(
    client: Client, examples: dict[str, Path], rng: random.Random, settings: Settings
) -> None:
    """Act like clerks and reviewers: at random moments, provide what a run waits for (the
    example's file in ``provide/``), and approve (mostly) or reject what awaits a decision.
    Errors while the server or every worker is down are expected: try again next round."""
    active = set(examples)
    limit = asyncio.Semaphore(16)

    async def look_at(workflow_id: str) -> None:
        async with limit:
            handle = client.get_workflow_handle(workflow_id)
            try:
                status = await handle.query("status", result_type=RunStatus)
                if status.state != "running":
                    active.discard(workflow_id)
                elif rng.random() < 0.6:
                    await act_on(handle, status, examples[workflow_id], rng, settings)
            except RPCError:
                pass

    while active:
        await asyncio.gather(*(look_at(workflow_id) for workflow_id in sorted(active)))
        await asyncio.sleep(rng.uniform(0.2, 0.8))


async def terminal_states(client: Client, workflow_ids: list[str]) -> Counter[str]:
    states: Counter[str] = Counter()
    for workflow_id in workflow_ids:
        try:
            description = await client.get_workflow_handle(workflow_id).describe()
            states[description.status.name if description.status else "UNKNOWN"] += 1
        except RPCError:
            states["UNREACHABLE"] += 1
    return states


def ledgers(data_dir: Path) -> dict[str, list[LedgerEntry]]:
    """Every business action recorded by the embedded systems of record."""
    return {
        path.stem: Ledger(path, path.stem).actions() for path in sorted(data_dir.glob("*.sqlite3"))
    }


async def test_every_run_finishes_and_every_action_happens_once_despite_kills(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20261121)
    server = DevServer(tmp_path / "temporal.sqlite", tmp_path / "server.log")
    server.start()
    settings.temporal.address = server.address
    environment = {
        "TEMPORAL_ADDRESS": server.address,
        "SLUICE_TASK_QUEUE": settings.temporal.task_queue,
        "SLUICE_DATA_DIR": str(settings.data_dir),
        "SLUICE_CODEC_KEYS_FILE": str(settings.codec.keys_file),
        "SLUICE_PAYLOAD_DIR": str(settings.payloads.directory),
        "SLUICE_INTAKE_DIR": str(settings.documents.intake_dir),
        "SLUICE_CONFIG": str(worker_config(tmp_path / "sluice.toml")),
    }
    workers = [
        WorkerProcess(f"worker-{n}", tmp_path / f"worker-{n}.log", environment) for n in (1, 2)
    ]
    for worker in workers:
        worker.start()
    client = await connect(
        settings.temporal,
        codec=codec_from_settings(settings),
        external_storage=payload_storage(settings),
    )
    samples = inputs()
    workflow_ids: list[str] = []
    examples: dict[str, Path] = {}
    kills = Counter[str]()
    started_at = time.monotonic()
    try:
        for n in range(RUNS):
            process, example, payload = samples[n % len(samples)]
            workflow_id = f"fault-{process.command}-{n:04d}-{uuid.uuid4().hex[:6]}"
            await client.start_workflow(
                process.workflow_type,
                payload,
                id=workflow_id,
                task_queue=settings.temporal.task_queue,
            )
            workflow_ids.append(workflow_id)
            examples[workflow_id] = example
        reviewers = asyncio.create_task(act_at_random(client, examples, rng, settings))

        # Three worker kills, staggered, and one server kill in the middle.
        for round_number in range(3):
            await asyncio.sleep(rng.uniform(1.0, 2.5))
            victim = workers[round_number % len(workers)]
            await asyncio.to_thread(victim.kill)
            kills["worker"] += 1
            if round_number == 1:
                await asyncio.to_thread(server.kill)
                kills["server"] += 1
                await asyncio.sleep(1.0)
                await asyncio.to_thread(server.start)
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            await asyncio.to_thread(victim.start)

        states: Counter[str] = Counter()
        while time.monotonic() - started_at < DEADLINE_SECONDS:
            states = await terminal_states(client, workflow_ids)
            if states[WorkflowExecutionStatus.RUNNING.name] == 0 and not states["UNREACHABLE"]:
                break
            await asyncio.sleep(1.0)
        reviewers.cancel()

        outcomes: Counter[str] = Counter()
        for workflow_id in workflow_ids:
            status = await client.get_workflow_handle(workflow_id).query(
                "status", result_type=RunStatus
            )
            outcomes[str((status.outcome or {}).get("action") or status.state)] += 1
        recorded = ledgers(settings.data_dir)
    finally:
        for worker in workers:
            worker.stop()
        server.stop()

    per_run: Counter[tuple[str, str]] = Counter()
    for system, entries in recorded.items():
        for entry in entries:
            workflow_id, _, step = entry.idempotency_key.partition(":")
            per_run[(workflow_id, f"{system}:{step}")] += 1
    duplicates = sum(count - 1 for count in per_run.values() if count > 1)
    lost = sum(count for state, count in states.items() if state != "COMPLETED")
    actions = Counter(key[1].split(":")[0] for key in per_run)

    with capsys.disabled():  # the counts belong in the CI log, pass or fail
        print(
            f"\nfault suite: {len(workflow_ids)} runs, {kills['worker']} worker kills, "
            f"{kills['server']} server kill(s); terminal states {dict(states)}; "
            f"outcomes {dict(outcomes)}; actions per system {dict(actions)}; "
            f"duplicates = {duplicates}, lost = {lost}"
        )
    assert states[WorkflowExecutionStatus.COMPLETED.name] == len(workflow_ids), states
    assert duplicates == 0 and lost == 0
    for workflow_id in workflow_ids:
        steps = {step for (run, step), _ in per_run.items() if run == workflow_id}
        assert steps, f"{workflow_id} completed without any business action on record"
        expected = EXPECTED_ACTIONS[workflow_id.split("-0")[0].removeprefix("fault-")]
        for alternatives in expected:
            done = alternatives & steps
            assert len(done) == 1, f"{workflow_id}: expected one of {alternatives}, has {steps}"


# Per process, the business actions every completed run has: exactly one of each set.
EXPECTED_ACTIONS: dict[str, list[set[str]]] = {
    "cargo-release": [{"terminal:release", "terminal:hold"}, {"notifications:notify-consignee"}],
    "kyc-review": [{"notifications:notify-outcome"}],
    "support-triage": [{"ticketing:route"}, {"ticketing:reply", "ticketing:handoff"}],
    "invoice-approval": [{"notifications:remittance", "notifications:not-paid"}],
}
