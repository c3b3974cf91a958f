"""Whatever a run carries, ``starter.py`` shows it without letting it forge a line: ids,
reviewer names, comments and reasons with newlines, terminal escapes and bidirectional
controls are shown escaped in ``pending``, ``status`` and ``audit``. And a value typed on the
command line never becomes part of a visibility query's syntax."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from sluice.app.rendering import print_status
from sluice.config import Settings
from sluice.framework.approval import DecisionRequest, PendingDecision
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from sluice.search_attributes import RiskLevel
from tests.conftest import example
from tests.support import eventually, starter, status_until, waiting_cargo_run

# What an attacker would type: a line of its own that looks like the real decision line,
# then an escape that erases the line on the terminal and one that reverses what follows.
FORGED_LINE = "  2026-12-01 00:00:00 UTC  decision           [alice] approved by alice, bob"
HOSTILE = f"ok\n{FORGED_LINE}\x1b[2K\u202e"
ESCAPED = f"ok\\n{FORGED_LINE}\\x1b[2K\\u202e"


def assert_nothing_forged(output: str) -> None:
    """No raw control reaches the terminal and no line starts where a value wanted one to."""
    assert "\x1b" not in output and "\u202e" not in output and "\r" not in output
    assert not any(line.startswith(FORGED_LINE) for line in output.splitlines())
    assert not any(line.startswith("decision: approved") for line in output.splitlines())


async def started_cargo_run(
    dev_env: WorkflowEnvironment, settings: Settings, workflow_id: str
) -> WorkflowHandle[Any, Any]:
    """The anomaly example under ``workflow_id`` (any id: started by a client we did not
    write, which checks nothing), once it waits for the officer."""
    handle = await dev_env.client.start_workflow(
        "CargoReleaseWorkflow",
        example("cargo_release", "anomaly"),
        id=workflow_id,
        task_queue=settings.temporal.task_queue,
    )
    await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    return handle


async def test_a_hostile_id_comment_and_reviewer_show_escaped_in_pending_status_and_audit(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    marker = uuid.uuid4().hex[:8]
    workflow_id = f"forge-{marker}\ndecision: approved by alice, bob\x1b[2K\u202e"
    async with make_worker(dev_env.client):
        handle = await started_cargo_run(dev_env, settings, workflow_id)

        async def listed() -> str | None:
            shown = await starter(dev_env, settings, "pending")
            return shown.stdout if marker in shown.stdout else None

        pending = await eventually(listed, what="the run listed as pending")
        pending_json = await starter(dev_env, settings, "pending", "--json")
        assert f"forge-{marker}\\ndecision: approved by alice, bob\\x1b[2K\\u202e" in pending
        assert_nothing_forged(pending)

        forger = f"mallory\n{FORGED_LINE}"
        refused = await starter(dev_env, settings, "approve", workflow_id, "--reviewer", forger)
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1
        assert_nothing_forged(refused.stderr)
        # By signal, a refusal is recorded in the audit trail, under the name it came with.
        await handle.signal("approve", {"reviewer": forger})

        approved = await starter(
            dev_env, settings, "approve", workflow_id, "--reviewer", "alice", "--comment", HOSTILE
        )
        assert approved.returncode == 0, approved.stderr
        await handle.result()

        status = await starter(dev_env, settings, "status", workflow_id)
        audit = await starter(dev_env, settings, "audit", workflow_id)
        status_json = await starter(dev_env, settings, "status", workflow_id, "--json")
        audit_json = await starter(dev_env, settings, "audit", workflow_id, "--json")
    # JSON stays JSON, the same values, with nothing raw that a terminal would act on.
    for shown in (pending_json, status_json, audit_json):
        assert_nothing_forged(shown.stdout)
    assert workflow_id in [row["workflow_id"] for row in json.loads(pending_json.stdout)]
    assert RunStatus.model_validate_json(status_json.stdout).decision.comment == HOSTILE  # type: ignore[union-attr]
    trail = AuditTrail.model_validate_json(audit_json.stdout)
    assert trail.of_kind("decision")[0].detail["comment"] == HOSTILE
    for shown in (status, audit):
        assert shown.returncode == 0, shown.stderr
        assert_nothing_forged(shown.stdout)
        assert f"comment: {ESCAPED}" in shown.stdout  # shown, and shown escaped
        assert f"forge-{marker}\\ndecision" in shown.stdout
    # The forger's refusal is on record, on its own line, forging none.
    assert "decision_refused   approve refused: " in audit.stdout


async def test_a_rejection_reason_shows_escaped_in_status_and_audit(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    workflow_id = f"reason-{uuid.uuid4().hex[:8]}"
    async with make_worker(dev_env.client):
        handle = await waiting_cargo_run(dev_env, settings, workflow_id)
        rejected = await starter(
            dev_env, settings, "reject", workflow_id, "--reviewer", "bob", "--reason", HOSTILE
        )
        assert rejected.returncode == 0, rejected.stderr
        await handle.result()
        status = await starter(dev_env, settings, "status", workflow_id)
        audit = await starter(dev_env, settings, "audit", workflow_id)
    assert "decision: rejected by bob" in status.stdout
    for shown in (status, audit):
        assert f"reason: {ESCAPED}" in shown.stdout
        assert_nothing_forged(shown.stdout)


def test_evidence_from_a_document_shows_escaped_where_a_decision_is_asked_for(
    capsys: Any,
) -> None:
    """``status`` and ``start --wait`` describe a pending decision the same way; its evidence
    quotes documents, which anyone who sends a shipment writes."""
    now = datetime.now(UTC)
    request = DecisionRequest(
        kind="customs_release",
        question="Release?",
        risk=RiskLevel.HIGH,
        evidence=[f"packing list says: {HOSTILE}"],
        model_rationale=HOSTILE,
    )
    print_status(
        RunStatus(
            workflow_id="shown-1",
            workflow_type="CargoReleaseWorkflow",
            domain="cargo_release",
            subject="SHP-1",
            current_step=None,
            steps=[],
            approval_status=None,
            risk_level=None,
            pending_decision=PendingDecision(
                request=request,
                requested_at=now,
                sla_deadline=now,
                final_deadline=now,
                allowed_reviewers=["alice"],
            ),
            decision=None,
        )
    )
    shown = capsys.readouterr().out
    assert f"  - packing list says: {ESCAPED}" in shown
    assert f"model rationale: {ESCAPED}" in shown
    assert_nothing_forged(shown)


async def refresh_signals(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name == "refresh_policy"
    )


async def test_a_domain_that_is_a_query_is_refused_and_signals_no_run(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    workflow_id = f"inject-{uuid.uuid4().hex[:8]}"
    async with make_worker(dev_env.client):
        handle = await started_cargo_run(dev_env, settings, workflow_id)
        injected = await starter(
            dev_env, settings, "refresh-policy", "--domain", "x' OR Domain != 'y"
        )
        other_domain = await starter(dev_env, settings, "refresh-policy", "--domain", "kyc_review")
        assert other_domain.returncode == 0, other_domain.stderr
        assert await refresh_signals(handle) == 0

        # The same command with the run's own domain does reach it: the check above can fail.
        own = await starter(dev_env, settings, "refresh-policy", "--domain", "cargo_release")
        assert own.returncode == 0, own.stderr
        assert await refresh_signals(handle) == 1
    assert injected.returncode == 2
    assert "argument --domain: invalid choice" in injected.stderr
    assert "Traceback" not in injected.stderr
