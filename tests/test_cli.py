"""``starter.py`` end to end, as a user runs it: a real process against the dev server with a
worker running. And the plain ``temporal`` CLI, a client we did not write, driving a run."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from sluice.config import Settings
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from tests.conftest import EXAMPLES
from tests.support import (
    ROOT,
    cli_environment,
    eventually,
    starter,
    status_until,
    temporal,
    waiting_cargo_run,
)


async def test_operator_starts_lists_refuses_approves_and_audits_a_run(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    workflow_id = f"cli-{uuid.uuid4().hex[:8]}"
    anomaly = str(EXAMPLES / "cargo_release" / "anomaly.json")
    async with make_worker(dev_env.client):
        started = await starter(
            dev_env, settings, "start", "cargo-release", anomaly, "--id", workflow_id
        )
        assert started.returncode == 0, started.stderr
        assert f"started CargoReleaseWorkflow {workflow_id}" in started.stdout

        async def listed() -> bool:
            pending = await starter(dev_env, settings, "pending")
            return workflow_id in pending.stdout and "customs_release" in pending.stdout

        await eventually(listed, what="the run listed as pending")

        status = await starter(dev_env, settings, "status", workflow_id)
        assert status.returncode == 0, status.stderr
        assert "Waiting for a decision: customs_release" in status.stdout
        assert f"starter.py approve {workflow_id} --reviewer alice" in status.stdout

        unknown = await starter(dev_env, settings, "approve", workflow_id, "--reviewer", "mallory")
        assert unknown.returncode == 1
        assert "cannot sign: 'mallory' is not in the reviewer registry" in unknown.stderr
        refused = await starter(dev_env, settings, "approve", workflow_id, "--reviewer", "dave")
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            "error: refused: reviewer 'dave' is not allowed to decide 'customs_release'"
        )

        approved = await starter(
            dev_env, settings, "approve", workflow_id, "--reviewer", "alice", "--comment", "ok"
        )
        assert approved.returncode == 0, approved.stderr
        assert "approved" in approved.stdout

        async def completed() -> RunStatus | None:
            shown = await starter(dev_env, settings, "status", workflow_id, "--json")
            run = RunStatus.model_validate_json(shown.stdout)
            return run if run.state == "completed" else None

        run = await eventually(completed, what="the run completed")
        assert run.outcome and run.outcome["action"] == "released"

        audit = await starter(dev_env, settings, "audit", workflow_id, "--json")
        events = json.loads(audit.stdout)["events"]
        decision = next(e for e in events if e["kind"] == "decision")
        assert decision["actor"] == "alice" and decision["detail"]["comment"] == "ok"

        again = await starter(dev_env, settings, "approve", workflow_id, "--reviewer", "bob")
    assert again.returncode == 1
    assert "has finished" in again.stderr and "Traceback" not in again.stderr


async def test_bad_input_file_is_refused_before_anything_starts(
    dev_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    broken = dict(json.loads((EXAMPLES / "cargo_release" / "clean.json").read_text()))
    broken["documents"][0]["kind"] = "invoice_of_sorts"
    del broken["consignee"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    workflow_id = f"never-{uuid.uuid4().hex[:8]}"

    result = await starter(
        dev_env, settings, "start", "cargo-release", str(path), "--id", workflow_id
    )

    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "consignee: Field required" in result.stderr
    assert "documents.0.kind" in result.stderr
    assert "Traceback" not in result.stderr
    listed = [w async for w in dev_env.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert listed == []


async def test_unknown_run_and_unreachable_server_get_one_line_errors(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    unknown = await starter(dev_env, settings, "status", "no-such-run")
    assert unknown.returncode == 1 and unknown.stderr == "error: no run with id 'no-such-run'\n"

    env = cli_environment(dev_env, settings) | {"TEMPORAL_ADDRESS": "127.0.0.1:1"}
    down = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "starter.py", "pending"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert down.returncode == 3  # its own exit code (sluice/app/cli_help.py)
    assert down.stderr.count("\n") == 1 and "cannot reach Temporal at 127.0.0.1:1" in down.stderr


async def test_an_amount_is_checked_where_it_enters_and_refused_where_none_is_asked_for(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    workflow_id = f"amount-{uuid.uuid4().hex[:8]}"
    async with make_worker(dev_env.client):
        handle = await waiting_cargo_run(dev_env, settings, workflow_id)
        typo = await starter(
            dev_env, settings, "approve", workflow_id, "--reviewer", "alice", "--amount", "12,50"
        )
        assert typo.returncode == 2
        assert "'12,50' is not an amount" in typo.stderr and "Traceback" not in typo.stderr
        cargo = await starter(
            dev_env, settings, "approve", workflow_id, "--reviewer", "alice", "--amount", "10"
        )
        assert cargo.returncode == 1
        assert cargo.stderr.strip().endswith("refused: 'customs_release' takes no amount")
        status = await handle.query("status", result_type=RunStatus)
    assert status.state == "running" and status.pending_decision is not None


async def test_plain_temporal_cli_starts_a_run_and_approves_it_by_signed_signal(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    workflow_id = f"plain-cli-{uuid.uuid4().hex[:8]}"
    client: Client = dev_env.client
    async with make_worker(client):
        handle = await waiting_cargo_run(dev_env, settings, workflow_id)
        unsigned = '{"reviewer": "bob", "comment": "checked with the carrier"}'
        signed = await starter(
            dev_env,
            settings,
            *("sign", "approve", workflow_id, "--reviewer", "bob"),
            *("--comment", "checked with the carrier"),
        )
        assert signed.returncode == 0, signed.stderr
        (tmp_path / "signed.json").write_text(signed.stdout)
        for how, payload in (
            ("--input", unsigned),
            ("--input-file", str(tmp_path / "signed.json")),
        ):
            signalled = await temporal(
                dev_env,
                *("workflow", "signal", "--workflow-id", workflow_id, "--name", "approve"),
                *(how, payload),
            )
            assert signalled.returncode == 0, signalled.stderr
        result = await asyncio.wait_for(handle.result(), timeout=60)
        trail = await handle.query("audit", result_type=AuditTrail)
    assert result["action"] == "released" and result["decided_by"] == ["bob"]
    (refusal,) = trail.of_kind("decision_refused")
    assert "unsigned decision" in refusal.summary and "starter.py sign" in refusal.summary


async def test_revoking_a_reviewer_reaches_runs_already_waiting(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    workflow_id = f"revoke-{uuid.uuid4().hex[:8]}"
    anomaly = str(EXAMPLES / "cargo_release" / "anomaly.json")
    async with make_worker(dev_env.client):
        await starter(dev_env, settings, "start", "cargo-release", anomaly, "--id", workflow_id)
        handle = dev_env.client.get_workflow_handle(workflow_id)
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
        # The operator removes alice from the allow-list the workers read...
        settings.approvals["cargo_release"].reviewers = {"*": ["bob", "carol"]}
        refreshed = await starter(dev_env, settings, "refresh-policy", "--domain", "cargo_release")
        assert refreshed.returncode == 0, refreshed.stderr

        async def revoked() -> bool:
            trail = await handle.query("audit", result_type=AuditTrail)
            return any("no longer allowed: alice" in e.summary for e in trail.events)

        await eventually(revoked, what="alice's approval revoked")
        # ...and the run that was already waiting no longer takes her decision.
        alice = await starter(dev_env, settings, "approve", workflow_id, "--reviewer", "alice")
        assert alice.returncode == 1 and "not allowed" in alice.stderr
        bob = await starter(dev_env, settings, "approve", workflow_id, "--reviewer", "bob")
        assert bob.returncode == 0, bob.stderr
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result["decided_by"] == ["bob"]
