"""The ``starter.py`` command line: start runs, decide, and inspect them.

Every failure a user can cause or meet (a bad input file, an unknown run, an unreachable
server, a decision nobody is waiting for) ends in one clear line and a non-zero exit code,
never a traceback. Input files are validated before anything is sent to Temporal.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn, cast

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from sluice import reviewers, signing, timeline
from sluice import search_attributes as sa
from sluice.audit_check import check_trail
from sluice.catalog import BY_COMMAND, PROCESSES, Process
from sluice.client import TemporalUnreachable, connect
from sluice.codec import codec_from_settings
from sluice.config import ConfigError, Settings, load_settings
from sluice.payload_store import payload_storage
from sluice.reviewers import RegistryError
from sluice.telemetry import install_telemetry, read_spans
from workflows.approval import DecisionInput, DecisionReceipt, PendingDecision
from workflows.audit import AuditTrail
from workflows.human_input import AwaitedInput, ProvidedInput
from workflows.process import RunStatus
from workflows.signatures import REQUESTER_MEMO

MAX_INPUT_BYTES = 50 * 1024 * 1024
QUERY_TIMEOUT = timedelta(seconds=10)
EXIT_INPUT = 2
EXIT_FAILURE = 1


class CliError(Exception):
    """A failure to report in one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


# --- input files --------------------------------------------------------------------------


def read_input(process: Process, path: Path) -> BaseModel:
    """Load and validate an input file, naming the file and field on any problem."""
    if not path.is_file():
        raise CliError(f"{path}: no such file", EXIT_INPUT)
    size = path.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise CliError(
            f"{path}: {size // (1024 * 1024)} MB is larger than the "
            f"{MAX_INPUT_BYTES // (1024 * 1024)} MB an input file may be",
            EXIT_INPUT,
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CliError(
            f"{path}: not UTF-8 text (byte {err.start}): input files are UTF-8 JSON", EXIT_INPUT
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise CliError(
            f"{path}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
            EXIT_INPUT,
        ) from None
    try:
        return process.input_model.model_validate(document)
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()[:8]
        ]
        more = f" (and {err.error_count() - 8} more)" if err.error_count() > 8 else ""
        raise CliError(
            f"{path}: not a valid {process.command} input: " + "; ".join(problems) + more,
            EXIT_INPUT,
        ) from None


# --- output ---------------------------------------------------------------------------------


def python_command() -> str:
    """How to call this Python from the current folder (the project's .venv when used)."""
    try:
        return str(Path(sys.executable).relative_to(Path.cwd()))
    except ValueError:
        return "python"


def approve_command(workflow_id: str, reviewer: str = "alice") -> str:
    return f"{python_command()} starter.py approve {workflow_id} --reviewer {reviewer}"


def _amount(text: str) -> Decimal:
    """A positive money amount with at most two decimals, as typed on the command line."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"'{text}' is not an amount, e.g. 19.95") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a positive amount with at most two decimals"
        )
    return amount


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


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
        f"; escalates {_when(pending.sla_deadline)}; safe path {_when(pending.final_deadline)}"
    )
    reviewer = next(
        (r for r in pending.allowed_reviewers if r not in pending.approvals), "REVIEWER"
    )
    lines.append(f"  approve: {approve_command(workflow_id, reviewer)}")
    lines.append(
        f"  reject:  {python_command()} starter.py reject {workflow_id} "
        f'--reviewer {reviewer} --reason "..."'
    )
    return lines


def provide_command(workflow_id: str, file: str = "FILE.json") -> str:
    return f"{python_command()} starter.py provide {workflow_id} {file}"


def describe_awaiting(workflow_id: str, awaiting: AwaitedInput) -> list[str]:
    request = awaiting.request
    lines = [
        f"Waiting for input: {request.kind} ({', '.join(awaiting.outstanding)})",
        f"  {request.question}",
    ]
    lines += [f"  - {reason}" for reason in request.reasons]
    lines.append(f"  deadline {_when(awaiting.deadline)}; then {request.safe_path}")
    lines.append(f"  provide: {provide_command(workflow_id)}")
    if request.payload_hint:
        lines.append(f"  FILE.json: {request.payload_hint}")
    return lines


def read_provided(path: Path) -> tuple[Process, ProvidedInput]:
    """Load and validate a file for ``provide``, against each process that takes one."""
    refusal: CliError | None = None
    for process in PROCESSES:
        if process.provided_input is None:
            continue
        as_input = dataclasses.replace(
            process, input_model=process.provided_input, command=f"{process.command} provide"
        )
        try:
            return process, cast(ProvidedInput, read_input(as_input, path))
        except CliError as err:
            refusal = refusal or err
    raise refusal or CliError("no process takes provided input", EXIT_INPUT)


def print_status(status: RunStatus) -> None:
    print(f"{status.workflow_type} {status.workflow_id} ({status.subject})")
    print(f"  state: {status.state}", end="")
    if status.current_step:
        print(f", step: {status.current_step}", end="")
    if status.approval_status:
        print(f", approval: {status.approval_status.value}", end="")
    if status.risk_level:
        print(f", risk: {status.risk_level.value}", end="")
    print()
    print("  timeline:")
    for step in status.steps:
        took = (
            f"{(step.finished_at - step.started_at).total_seconds():.1f}s"
            if step.finished_at
            else "..."
        )
        note = f"  [{step.note}]" if step.note else ""
        retries = f" (attempt {step.attempts})" if step.attempts > 1 else ""
        print(f"    {_when(step.started_at)}  {step.status:<9} {step.name} {took}{retries}{note}")
    if status.pending_decision:
        for line in describe_pending(status.workflow_id, status.pending_decision):
            print(f"  {line}")
    if status.awaiting_input:
        for line in describe_awaiting(status.workflow_id, status.awaiting_input):
            print(f"  {line}")
    if status.decision:
        who = ", ".join(status.decision.reviewers) or "-"
        print(
            f"  decision: {status.decision.outcome} by {who} at {_when(status.decision.decided_at)}"
        )
    usage = status.model_usage
    if usage.get("calls"):
        print(
            f"  model: {usage['calls']} calls, {usage['input_tokens']} input / "
            f"{usage['output_tokens']} output tokens, estimated ${status.model_cost_usd:.6f}"
        )
    if status.outcome:
        print(f"  outcome: {json.dumps(status.outcome)}")
    if status.failure:
        print(f"  failure: {status.failure}")
    if status.flooded:
        print(
            f"  flooded: {status.refused_messages} messages refused (the first ones are in "
            "the audit trail, the rest only counted); find who sends them"
        )


def print_audit(trail: AuditTrail) -> None:
    print(f"Audit trail of {trail.workflow_type} {trail.workflow_id} ({trail.subject})")
    print(f"  started by {trail.started_by} at {_when(trail.started_at)}")
    for item in trail.inputs:
        print(f"  input {item.name}: sha256 {item.sha256}")
    for event in trail.events:
        actor = f" [{event.actor}]" if event.actor else ""
        print(f"  {_when(event.at)}  {event.kind:<18}{actor} {event.summary}")


# --- talking to Temporal ---------------------------------------------------------------------


async def _query(handle: WorkflowHandle[Any, Any], name: str, result_type: type) -> Any:
    try:
        return await handle.query(name, result_type=result_type, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        raise _rpc_problem(err, handle.id) from None
    except WorkflowQueryFailedError as err:
        raise CliError(f"{handle.id}: the run could not answer: {err}") from None


def _rpc_problem(err: RPCError, workflow_id: str) -> CliError:
    if err.status == RPCStatusCode.NOT_FOUND:
        return CliError(f"no run with id '{workflow_id}'")
    if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        return CliError(
            f"{workflow_id}: no worker answered in time; is `python worker.py` running?"
        )
    if err.status == RPCStatusCode.UNAVAILABLE:
        return CliError(f"Temporal is unavailable: {err.message}")
    return CliError(f"{workflow_id}: {err.message}")


async def _ensure_exists(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus | None:
    try:
        description = await handle.describe()
    except RPCError as err:
        raise _rpc_problem(err, handle.id) from None
    return description.status


async def cmd_start(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    process = BY_COMMAND[args.process]
    payload: BaseModel = args.payload
    subject = process.subject(payload)
    workflow_id = args.id or f"{process.command}-{subject}-{uuid.uuid4().hex[:6]}"
    digest = hashlib.sha256(Path(args.file).read_bytes()).hexdigest()[:16]
    memo = requester_memo(settings, payload, workflow_id)
    try:
        handle = await client.start_workflow(
            process.workflow_type,
            payload,
            id=workflow_id,
            task_queue=settings.temporal.task_queue,
            static_summary=f"{process.title} {subject}",
            static_details=(
                f"Started from `{Path(args.file).name}` (sha256 {digest}…) "
                f"by {process.command} CLI at {_when(datetime.now(UTC))}"
            ),
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.DOMAIN, process.domain)]
            ),
            memo=memo,
        )
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:
            raise CliError(f"a run with id '{workflow_id}' already exists") from None
        raise CliError(f"could not start the run: {err.message}") from None
    print(f"started {process.workflow_type} {workflow_id}")
    if not args.wait:
        print(f"  follow it: python starter.py status {workflow_id}")
        return 0
    return await watch(handle)


def requester_memo(settings: Settings, payload: BaseModel, workflow_id: str) -> dict[str, str]:
    """The requester's signed start request, when their key is on this machine; without it
    the run records the requester as unverified."""
    requester = getattr(payload, "requested_by", None)
    if not isinstance(requester, str):
        return {}
    signer = signing.requester_signer(settings, requester)
    if signer is None:
        print(f"  requester {requester}: not signed (no key here), recorded as unverified")
        return {}
    token = signing.start_token(
        signer,
        requester=signer.issuer,
        workflow_id=workflow_id,
        lifetime=timedelta(minutes=settings.signatures.token_minutes),
    )
    print(f"  requester {signer.issuer}: start request signed with key {signer.kid[:12]}…")
    return {REQUESTER_MEMO: token}


async def watch(handle: WorkflowHandle[Any, Any]) -> int:
    """Show steps as they happen, say plainly when a decision is needed, then the outcome."""
    shown: dict[tuple[str, datetime], str] = {}
    announced_pending = False
    announced_input = False
    while True:
        status: RunStatus = await _query(handle, "status", RunStatus)
        for step in status.steps:
            key = (step.name, step.started_at)
            if shown.get(key) != step.status:
                shown[key] = step.status
                print(f"  {step.status:<9} {step.name}" + (f"  [{step.note}]" if step.note else ""))
        if status.pending_decision and not announced_pending:
            announced_pending = True
            for line in describe_pending(handle.id, status.pending_decision):
                print(f"  {line}")
        if not status.pending_decision:
            announced_pending = False
        if status.awaiting_input and not announced_input:
            for line in describe_awaiting(handle.id, status.awaiting_input):
                print(f"  {line}")
        announced_input = status.awaiting_input is not None
        if status.state != "running":
            break
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = await _query(handle, "status", RunStatus)
            break
        await asyncio.sleep(0.5)
    if status.state == "completed" and status.outcome:
        print(f"outcome: {json.dumps(status.outcome)}")
        return 0
    try:
        await handle.result()
    except WorkflowFailureError as err:
        cause = err.cause.message if err.cause and hasattr(err.cause, "message") else str(err)
        print(f"failed: {cause}")
        return EXIT_FAILURE
    return 0


async def cmd_decide(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    handle = client.get_workflow_handle(args.workflow_id)
    state = await _ensure_exists(handle)
    if state != WorkflowExecutionStatus.RUNNING:
        raise CliError(
            f"{args.workflow_id} has finished ({state.name.lower() if state else '?'}); "
            "it waits for no decision"
        )
    decision = await decision_to_send(handle, settings, args, args.command)
    try:
        receipt: DecisionReceipt = await handle.execute_update(
            "decide", decision, result_type=DecisionReceipt, rpc_timeout=QUERY_TIMEOUT
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = getattr(cause, "message", None) or str(cause or err)
        raise CliError(f"refused: {message}") from None
    except RPCError as err:
        raise _rpc_problem(err, args.workflow_id) from None
    print(f"{args.workflow_id}: {receipt.message}")
    return 0 if receipt.accepted else EXIT_FAILURE


async def decision_to_send(
    handle: WorkflowHandle[Any, Any], settings: Settings, args: argparse.Namespace, verdict: str
) -> DecisionInput:
    """The decision as typed, signed with the reviewer's own key for the request the run is
    waiting on now (unsigned only where the configuration does not require signatures)."""
    final_text = (
        Path(args.final_text_file).read_text("utf-8")
        if getattr(args, "final_text_file", None)
        else None
    )
    fields: dict[str, Any] = {
        "verdict": verdict,
        "reviewer": args.reviewer,
        "comment": getattr(args, "comment", None),
        "reason": getattr(args, "reason", None),
        "final_text": final_text,
        "amount": getattr(args, "amount", None),
    }
    status: RunStatus = await _query(handle, "status", RunStatus)
    pending = status.pending_decision
    if pending is None:
        raise CliError(f"{handle.id} is not waiting for a decision")
    try:
        return signing.signed_decision(
            settings, workflow_id=handle.id, request_id=pending.request_id, **fields
        )
    except RegistryError as err:
        if settings.signatures.require_signed_decisions:
            raise CliError(f"cannot sign: {err}") from None
        return DecisionInput(**fields)


async def cmd_sign(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    """Print a signed ``approve`` or ``reject`` signal payload for the plain temporal CLI."""
    handle = client.get_workflow_handle(args.workflow_id)
    state = await _ensure_exists(handle)
    if state != WorkflowExecutionStatus.RUNNING:
        raise CliError(f"{args.workflow_id} has finished; it waits for no decision")
    decision = await decision_to_send(handle, settings, args, args.verdict)
    print(signing.as_signal(decision).model_dump_json(exclude_none=True))
    print(
        f"valid for {settings.signatures.token_minutes:g} minutes, for this request only; send "
        f"it with: temporal workflow signal --workflow-id {args.workflow_id} --name "
        f"{args.verdict} --input-file FILE",
        file=sys.stderr,
    )
    return 0


async def cmd_refresh_policy(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    """Ask every running run (of one domain, or all) to re-read its approval policy."""
    query = "ExecutionStatus = 'Running'"
    if args.domain:
        query += f" AND {sa.DOMAIN.name} = '{args.domain}'"
    refreshed = 0
    async for execution in client.list_workflows(query):
        if not execution.typed_search_attributes.get(sa.DOMAIN):
            continue  # not a Sluice run
        try:
            await client.get_workflow_handle(execution.id).signal("refresh_policy")
        except RPCError as err:
            print(f"  {execution.id}: not refreshed ({err.message})", file=sys.stderr)
            continue
        refreshed += 1
    print(f"asked {refreshed} running run(s) to re-read their approval policy")
    return 0


async def cmd_pending(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    query = (
        "ExecutionStatus = 'Running' AND "
        f"{sa.APPROVAL_STATUS.name} IN ('{sa.ApprovalStatus.PENDING}', "
        f"'{sa.ApprovalStatus.ESCALATED}')"
    )
    rows = []
    async for execution in client.list_workflows(query):
        attributes = execution.typed_search_attributes
        rows.append(
            (
                execution.id,
                attributes.get(sa.DOMAIN) or "-",
                attributes.get(sa.DECISION_NEEDED) or "-",
                attributes.get(sa.APPROVAL_STATUS) or "-",
                attributes.get(sa.RISK_LEVEL) or "-",
                attributes.get(sa.DECISION_REQUESTED_AT),
            )
        )
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "workflow_id": r[0],
                        "domain": r[1],
                        "decision": r[2],
                        "status": r[3],
                        "risk": r[4],
                        "since": r[5].isoformat() if r[5] else None,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return 0
    if not rows:
        print("no run is waiting for a decision")
        return 0
    print(f"{'WORKFLOW ID':<44} {'DOMAIN':<15} {'DECISION':<20} {'STATUS':<10} {'RISK':<7} SINCE")
    for workflow_id, domain, needed, status, risk, since in sorted(rows, key=lambda r: str(r[5])):
        print(f"{workflow_id:<44} {domain:<15} {needed:<20} {status:<10} {risk:<7} {_when(since)}")
    return 0


async def cmd_status(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    handle = client.get_workflow_handle(args.workflow_id)
    await _ensure_exists(handle)
    status: RunStatus = await _query(handle, "status", RunStatus)
    if args.json:
        print(status.model_dump_json(indent=2))
    else:
        print_status(status)
    return 0


async def cmd_audit(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    handle = client.get_workflow_handle(args.workflow_id)
    await _ensure_exists(handle)
    trail: AuditTrail = await _query(handle, "audit", AuditTrail)
    if args.json:
        print(trail.model_dump_json(indent=2))
    else:
        print_audit(trail)
    if getattr(args, "verify", False):
        return print_verified(trail, settings)
    return 0


def print_verified(trail: AuditTrail, settings: Settings) -> int:
    """Re-check each recorded decision's signature offline; non-zero if any does not hold."""
    checks = check_trail(trail, settings.reviewer_registry_file)
    print(f"signatures of {trail.workflow_id}: {len(checks)} decision(s)")
    for check in checks:
        mark = "holds" if check.holds else "FAILS"
        print(f"  {_when(check.event.at)}  {mark:<5} [{check.event.actor}] {check.note}")
    return 0 if all(check.holds for check in checks) else EXIT_FAILURE


async def cmd_trace(settings: Settings, args: argparse.Namespace) -> int:
    """Draw the run from the local span file, or from its history when no spans were kept."""
    path = Path(args.file) if args.file else settings.spans_file
    spans = timeline.spans_of_run(read_spans(path), args.workflow_id)
    if spans:
        print(f"trace of {args.workflow_id} ({len(spans)} spans from {path})")
        for line in timeline.draw_spans(spans, args.workflow_id):
            print(line)
        return 0
    client = await connect(
        settings.temporal,
        codec=codec_from_settings(settings),
        external_storage=payload_storage(settings),
    )
    handle = client.get_workflow_handle(args.workflow_id)
    await _ensure_exists(handle)
    try:
        history = await handle.fetch_history()
    except RPCError as err:
        raise _rpc_problem(err, args.workflow_id) from None
    codec = client.data_converter.payload_codec
    if codec is not None:
        # Step names (event summaries) are encrypted like every payload: decrypt to draw them.
        for event in history.events:
            if event.user_metadata.HasField("summary"):
                [summary] = await codec.decode([event.user_metadata.summary])
                event.user_metadata.summary.CopyFrom(summary)
    print(
        f"no spans for {args.workflow_id} in {path}: timings from the run's history instead "
        "(no model, token or cost detail)"
    )
    for line in timeline.draw_history(history.events, args.workflow_id):
        print(line)
    return 0


async def cmd_provide(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    """Send a missing document (or other awaited input) to the run waiting for it."""
    process, payload = args.provided
    handle = client.get_workflow_handle(args.workflow_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        raise _rpc_problem(err, args.workflow_id) from None
    if description.workflow_type != process.workflow_type:
        raise CliError(
            f"{args.workflow_id} is a {description.workflow_type} run; "
            f"{args.file} is for {process.workflow_type}"
        )
    if description.status != WorkflowExecutionStatus.RUNNING:
        state = description.status.name.lower() if description.status else "?"
        raise CliError(f"{args.workflow_id} has finished ({state}); it waits for no input")
    status: RunStatus = await _query(handle, "status", RunStatus)
    awaiting = status.awaiting_input
    if awaiting is None:
        raise CliError(f"{args.workflow_id} is not waiting for any input")
    if payload.item not in awaiting.request.items:
        raise CliError(
            f"{args.workflow_id} waits for {', '.join(awaiting.outstanding)}, not {payload.item}",
            EXIT_INPUT,
        )
    try:
        await handle.signal(awaiting.request.signal, payload, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        raise _rpc_problem(err, args.workflow_id) from None
    print(f"{args.workflow_id}: {payload.item} sent by {payload.provided_by}")
    print(f"  follow it: {python_command()} starter.py status {args.workflow_id}")
    return 0


COMMANDS = {
    "provide": cmd_provide,
    "start": cmd_start,
    "approve": cmd_decide,
    "reject": cmd_decide,
    "pending": cmd_pending,
    "refresh-policy": cmd_refresh_policy,
    "status": cmd_status,
    "audit": cmd_audit,
    "sign": cmd_sign,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise CliError(message, EXIT_INPUT)


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="starter.py", description="Start, decide and inspect Sluice runs.")
    root.add_argument("--config", help="configuration file (default: sluice.toml)")
    commands = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

    start = commands.add_parser("start", help="validate an input file and start a run")
    start.add_argument("process", choices=sorted(BY_COMMAND))
    start.add_argument("file")
    start.add_argument("--id", help="workflow id (default: derived from the input)")
    start.add_argument("--wait", action="store_true", help="follow the run until it ends")

    approve = commands.add_parser("approve", help="approve the pending decision")
    approve.add_argument("workflow_id")
    approve.add_argument("--reviewer", required=True)
    approve.add_argument("--comment")
    approve.add_argument("--final-text-file", help="the edited text to act on (support replies)")
    approve.add_argument(
        "--amount",
        type=_amount,
        help="approve a lower amount than asked for (refunds; with the reply edited to match)",
    )

    reject = commands.add_parser("reject", help="reject the pending decision")
    reject.add_argument("workflow_id")
    reject.add_argument("--reviewer", required=True)
    reject.add_argument("--reason", required=True)

    provide = commands.add_parser(
        "provide", help="send a missing document to the run waiting for it"
    )
    provide.add_argument("workflow_id")
    provide.add_argument("file", help="JSON: what the run's status shows under FILE.json")

    pending = commands.add_parser("pending", help="runs waiting for a decision")
    pending.add_argument("--json", action="store_true")

    refresh = commands.add_parser(
        "refresh-policy", help="make running runs re-read the approval policy (revoke access)"
    )
    refresh.add_argument("--domain", help="only this domain, e.g. cargo_release")

    for name, text in (("status", "where a run is"), ("audit", "a run's audit trail")):
        command = commands.add_parser(name, help=text)
        command.add_argument("workflow_id")
        command.add_argument("--json", action="store_true")
        if name == "audit":
            command.add_argument(
                "--verify", action="store_true", help="re-check every decision's signature"
            )
    add_signing_parsers(commands)

    trace = commands.add_parser("trace", help="a run's steps, model calls and waits as a tree")
    trace.add_argument("workflow_id")
    trace.add_argument("--file", help="span file (default: <data_dir>/traces/spans.jsonl)")
    return root


def add_signing_parsers(commands: Any) -> None:
    """``sign approve|reject`` and ``reviewers ...`` (handed to ``python -m sluice.reviewers``)."""
    sign = commands.add_parser("sign", help="print a signed decision for the temporal CLI")
    verdicts = sign.add_subparsers(dest="verdict", required=True, parser_class=_Parser)
    approve = verdicts.add_parser("approve", help="a signed approve signal payload")
    approve.add_argument("workflow_id")
    approve.add_argument("--reviewer", required=True)
    approve.add_argument("--comment")
    approve.add_argument("--final-text-file", help="the edited text to act on (support replies)")
    approve.add_argument("--amount", type=_amount, help="approve a lower amount (refunds)")
    reject = verdicts.add_parser("reject", help="a signed reject signal payload")
    reject.add_argument("workflow_id")
    reject.add_argument("--reviewer", required=True)
    reject.add_argument("--reason", required=True)
    keys = commands.add_parser(
        "reviewers", help="reviewers and their keys (python -m sluice.reviewers)", add_help=False
    )
    keys.add_argument("rest", nargs=argparse.REMAINDER)


async def run(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    if args.command == "reviewers":
        return reviewers.main([*(["--config", args.config] if args.config else []), *args.rest])
    settings = load_settings(args.config)
    if args.command == "start":
        # Validate before connecting: a bad file never reaches the server.
        args.payload = read_input(BY_COMMAND[args.process], Path(args.file))
    if args.command == "provide":
        args.provided = read_provided(Path(args.file))
    if args.command == "trace":
        return await cmd_trace(settings, args)
    # Traced, so a run's trace starts at the command that started (or decided) it.
    telemetry = install_telemetry(settings, "sluice-cli")
    client = telemetry.traced(
        await connect(
            settings.temporal,
            codec=codec_from_settings(settings),
            external_storage=payload_storage(settings),
        )
    )
    try:
        return await COMMANDS[args.command](client, settings, args)
    finally:
        telemetry.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: every expected failure is one line on stderr and an exit code."""
    try:
        return asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    except (ConfigError, TemporalUnreachable, RegistryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted; runs on the server carry on", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``starter.py trace ID | head``): stop quietly, as CLIs do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # a bug, not a user error: still one line unless asked for more
        if os.environ.get("SLUICE_DEBUG"):
            raise
        print(
            f"error: unexpected {type(err).__name__}: {err} (SLUICE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
