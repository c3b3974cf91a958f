"""Malformed decisions sent with the raw ``temporal`` CLI: each is refused with a clear
reason where it entered, the run keeps waiting, and nothing already recorded is lost."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from sluice.config import Settings
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from tests.support import signed_signal, temporal, waiting_cargo_run

MALFORMED_APPROVALS = [
    ('{"comment": "no reviewer"}', "reviewer: Field required"),
    ('{"reviewer": 42}', "reviewer: Input should be a valid string"),
    ('{"reviewer": "alice", "approved": true}', "approved: Extra inputs are not permitted"),
    ('{"reviewer": ""}', "reviewer: String should have at least 1 character"),
    ('"alice"', "Input should be"),
]


async def waiting_run(dev_env: WorkflowEnvironment, settings: Settings) -> str:
    workflow_id = f"bad-input-{uuid.uuid4().hex[:8]}"
    await waiting_cargo_run(dev_env, settings, workflow_id)
    return workflow_id


@pytest.mark.parametrize(("payload", "reason"), MALFORMED_APPROVALS)
async def test_malformed_approve_signal_is_refused_on_the_record_and_the_run_waits(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    payload: str,
    reason: str,
) -> None:
    async with make_worker(dev_env.client):
        workflow_id = await waiting_run(dev_env, settings)
        handle = dev_env.client.get_workflow_handle(workflow_id)
        before = await handle.query("audit", result_type=AuditTrail)
        sent = await temporal(
            dev_env,
            "workflow",
            "signal",
            "--workflow-id",
            workflow_id,
            "--name",
            "approve",
            "--input",
            payload,
        )
        assert sent.returncode == 0, sent.stderr

        async def refused() -> AuditTrail | None:
            trail = await handle.query("audit", result_type=AuditTrail)
            return trail if trail.of_kind("decision_refused") else None

        trail = None
        for _ in range(100):
            trail = await refused()
            if trail:
                break
            await asyncio.sleep(0.1)
        assert trail is not None, "the malformed signal left no trace"
        refusal = trail.of_kind("decision_refused")[0].summary
        assert "malformed 'approve' signal ignored" in refusal and reason in refusal
        assert trail.events[: len(before.events)] == before.events, "nothing recorded is lost"
        status = await handle.query("status", result_type=RunStatus)
        assert status.pending_decision is not None and status.decision is None

        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result["action"] == "released"


async def test_malformed_decide_update_is_refused_to_the_sender(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        workflow_id = await waiting_run(dev_env, settings)
        handle = dev_env.client.get_workflow_handle(workflow_id)
        for payload, reason in [
            ('{"verdict": "maybe", "reviewer": "alice"}', "verdict: Input should be 'approve'"),
            ('{"verdict": "reject", "reviewer": "alice"}', "a rejection needs a reason"),
            ('{"verdict": "approve"}', "malformed decision: reviewer: Field required"),
        ]:
            sent = await temporal(
                dev_env,
                "workflow",
                "update",
                "execute",
                "--workflow-id",
                workflow_id,
                "--name",
                "decide",
                "--input",
                payload,
            )
            assert sent.returncode != 0, "the raw CLI must be told the update was refused"
            # Failure messages are encrypted with the payloads; our client decodes them.
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update("decide", json.loads(payload))
            assert reason in str(refused.value.cause)
        status = await handle.query("status", result_type=RunStatus)
        assert status.pending_decision is not None and status.decision is None
