"""How the command line shows a run: its status, its pending decision and what to type next,
its audit trail. The local runner shows runs the same way."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from sluice.app.cli_help import EXIT_FAILURE
from sluice.audit_check import check_trail
from sluice.config import Settings
from sluice.framework.approval import Decision, PendingDecision
from sluice.framework.audit import AuditTrail
from sluice.framework.human_input import AwaitedInput
from sluice.framework.process import RunStatus
from sluice.terminal import printable, project_command


def show(lines: str | Iterable[str], file: TextIO | None = None) -> None:
    """Print text lines with run-supplied control characters made visible: every text
    renderer prints through here, so no value can forge a line of its own."""
    for line in [lines] if isinstance(lines, str) else lines:
        # Flushed per line: `start --wait` is followed live, also through a pipe or into a log.
        print(printable(line), file=file or sys.stdout, flush=True)


def approve_command(workflow_id: str, reviewer: str = "alice") -> str:
    return (
        f"{project_command('starter.py')} approve {shlex.quote(workflow_id)} "
        f"--reviewer {shlex.quote(reviewer)}"
    )


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def next_reviewer(pending: PendingDecision) -> str:
    """A reviewer whose decision the run would take now, for a command that works as shown."""
    request = pending.request
    return next(
        (
            reviewer
            for reviewer in pending.allowed_reviewers
            if reviewer not in pending.approvals and reviewer not in request.excluded_reviewers
        ),
        "REVIEWER",
    )


def describe_pending(workflow_id: str, pending: PendingDecision) -> list[str]:
    request = pending.request
    lines = [
        f"Waiting for a decision: {request.kind} (risk {request.risk.value})",
        f"  {request.question}",
    ]
    lines += [f"  - {item}" for item in request.evidence]
    if request.model_rationale:
        lines.append(f"  model rationale: {request.model_rationale}")
    need = request.approvals_required - len(pending.approvals)
    lines.append(
        f"  needs {need} more approval(s) from: {', '.join(pending.allowed_reviewers) or 'nobody'}"
        f"; escalates {when(pending.sla_deadline)}; safe path {when(pending.final_deadline)}"
    )
    reviewer = next_reviewer(pending)
    lines.append(f"  approve: {approve_command(workflow_id, reviewer)}")
    lines.append(
        f"  reject:  {project_command('starter.py')} reject {shlex.quote(workflow_id)} "
        f'--reviewer {shlex.quote(reviewer)} --reason "..."'
    )
    return lines


def provide_command(workflow_id: str, file: str = "FILE.json") -> str:
    return f"{project_command('starter.py')} provide {shlex.quote(workflow_id)} {file}"


def describe_awaiting(workflow_id: str, awaiting: AwaitedInput) -> list[str]:
    request = awaiting.request
    lines = [
        f"Waiting for input: {request.kind} ({', '.join(awaiting.outstanding)})",
        f"  {request.question}",
    ]
    lines += [f"  - {reason}" for reason in request.reasons]
    lines.append(f"  deadline {when(awaiting.deadline)}; then {request.safe_path}")
    lines.append(f"  provide: {provide_command(workflow_id)}")
    if request.payload_hint:
        lines.append(f"  FILE.json: {request.payload_hint}")
    return lines


def print_status(status: RunStatus, run_id: str | None = None) -> None:
    show(f"{status.workflow_type} {status.workflow_id} ({status.subject})")
    if run_id:
        show(f"  run: {run_id}")
    state = f"  state: {status.state}"
    if status.current_step:
        state += f", step: {status.current_step}"
    if status.approval_status:
        state += f", approval: {status.approval_status.value}"
    if status.risk_level:
        state += f", risk: {status.risk_level.value}"
    show(state)
    show("  timeline:")
    for step in status.steps:
        took = (
            f"{(step.finished_at - step.started_at).total_seconds():.1f}s"
            if step.finished_at
            else "..."
        )
        note = f"  [{step.note}]" if step.note else ""
        retries = f" (attempt {step.attempts})" if step.attempts > 1 else ""
        show(f"    {when(step.started_at)}  {step.status:<9} {step.name} {took}{retries}{note}")
    if status.pending_decision:
        show(f"  {line}" for line in describe_pending(status.workflow_id, status.pending_decision))
    if status.awaiting_input:
        show(f"  {line}" for line in describe_awaiting(status.workflow_id, status.awaiting_input))
    if status.decision:
        show(describe_decision(status.decision))
    usage = status.model_usage
    if usage.get("calls"):
        show(
            f"  model: {usage['calls']} calls, {usage['input_tokens']} input / "
            f"{usage['output_tokens']} output tokens, estimated ${status.model_cost_usd:.6f}"
        )
    if status.outcome:
        show(f"  outcome: {json.dumps(status.outcome)}")
    if status.failure:
        show(f"  failure: {status.failure}")
    if status.flooded:
        show(
            f"  flooded: {status.refused_messages} messages refused (the first ones are in "
            "the audit trail, the rest only counted); find who sends them"
        )


def describe_decision(decision: Decision) -> list[str]:
    """The decision, then each reviewer's vote with the comment or reason they gave."""
    who = ", ".join(decision.reviewers) or "-"
    lines = [f"  decision: {decision.outcome} by {who} at {when(decision.decided_at)}"]
    if decision.amount is not None:
        lines.append(f"    amount: {decision.amount}")
    for vote in decision.votes:
        lines.append(f"    {vote.verdict} by {vote.reviewer} at {when(vote.at)}")
        lines += _remarks(vote.comment, vote.reason, indent="      ")
    if not decision.votes or decision.outcome == "timed_out":
        # Decided by the system (not required, or no decision in time): its own reason.
        lines += _remarks(decision.comment, decision.reason, indent="    ")
    return lines


def _remarks(comment: str | None, reason: str | None, indent: str) -> list[str]:
    return [
        f"{indent}{label}: {text}"
        for label, text in (("comment", comment), ("reason", reason))
        if text
    ]


def print_audit(trail: AuditTrail) -> None:
    show(f"Audit trail of {trail.workflow_type} {trail.workflow_id} ({trail.subject})")
    show(f"  started by {trail.started_by} at {when(trail.started_at)}")
    for item in trail.inputs:
        show(f"  input {item.name}: sha256 {item.sha256}")
    for event in trail.events:
        actor = f" [{event.actor}]" if event.actor else ""
        show(f"  {when(event.at)}  {event.kind:<18}{actor} {event.summary}")
        show(_remarks(event.detail.get("comment"), event.detail.get("reason"), indent=" " * 27))


def print_verified(trail: AuditTrail, settings: Settings) -> int:
    """Re-check each recorded decision's signature offline; non-zero if any does not hold."""
    checks = check_trail(trail, settings.reviewer_registry_file)
    show(f"signatures of {trail.workflow_id}: {len(checks)} decision(s)")
    for check in checks:
        mark = "holds" if check.holds else "FAILS"
        show(f"  {when(check.event.at)}  {mark:<5} [{check.event.actor}] {check.note}")
    return 0 if all(check.holds for check in checks) else EXIT_FAILURE
