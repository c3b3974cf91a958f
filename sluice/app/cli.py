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
import math
import os
import shlex
import stat
import sys
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sluice import reviewers, signing, timeline
from sluice import search_attributes as sa
from sluice.app.catalog import BY_COMMAND, PROCESSES
from sluice.audit_check import check_trail
from sluice.client import TemporalUnreachable, connect
from sluice.codec import codec_from_settings
from sluice.config import ConfigError, Settings, load_settings
from sluice.framework import Process
from sluice.framework.approval import Decision, DecisionInput, DecisionReceipt, PendingDecision
from sluice.framework.audit import AuditTrail
from sluice.framework.human_input import AwaitedInput, ProvidedInput
from sluice.framework.process import RunStatus
from sluice.framework.signatures import REQUESTER_MEMO
from sluice.intake import IntakeRefusal, check_documents
from sluice.payload_store import payload_storage
from sluice.reviewers import RegistryError
from sluice.telemetry import install_telemetry, read_spans
from sluice.terminal import printable, printable_json, project_command
from sluice.validation import validation_problems

MAX_INPUT_BYTES = 50 * 1024 * 1024
# An edited reply is at most 20,000 characters (DecisionInput): a file far larger is a mistake.
MAX_FINAL_TEXT_BYTES = 1024 * 1024
# Inputs nest a few levels (a document's fields); far deeper nesting only exhausts stacks.
MAX_JSON_DEPTH = 32
# Amounts, weights and counts: no field takes a number of more digits than this.
MAX_NUMBER_DIGITS = 30
MAX_WORKFLOW_ID_CHARS = 200
QUERY_TIMEOUT = timedelta(seconds=10)
EXIT_INPUT = 2
EXIT_FAILURE = 1


class CliError(Exception):
    """A failure to report in one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


# --- input files --------------------------------------------------------------------------


def read_text_file(path: Path, limit: int, flag: str = "") -> str:
    """A regular file's UTF-8 text, refused (exit code 2, naming the flag and file) when it is
    missing, not a regular file, unreadable, larger than ``limit`` bytes, binary or not UTF-8.
    No more than ``limit`` bytes are ever read, whatever the file claims its size is."""
    name = f"{flag} {path}" if flag else str(path)
    try:
        # Non-blocking, so a FIFO is refused below instead of waiting for a writer forever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CliError(f"{name}: no such file", EXIT_INPUT) from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise CliError(f"{name}: cannot be read ({_why(err)})", EXIT_INPUT) from None
    too_large = CliError(f"{name}: larger than the {_size(limit)} it may be", EXIT_INPUT)
    found = os.fstat(descriptor)
    if not stat.S_ISREG(found.st_mode):
        os.close(descriptor)
        raise CliError(f"{name}: not a regular file", EXIT_INPUT)
    with os.fdopen(descriptor, "rb") as opened:
        if found.st_size > limit:
            raise too_large
        try:
            raw = opened.read(limit + 1)
        except OSError as err:
            raise CliError(f"{name}: cannot be read ({_why(err)})", EXIT_INPUT) from None
    if len(raw) > limit:  # it grew since, or a file system reports no size
        raise too_large
    if (nul := raw.find(b"\0")) >= 0:
        raise CliError(f"{name}: binary, not text (NUL byte at {nul})", EXIT_INPUT)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CliError(f"{name}: not UTF-8 text (byte {err.start})", EXIT_INPUT) from None


def _why(err: Exception) -> str:
    return (err.strerror if isinstance(err, OSError) else None) or str(err)


def _size(limit: int) -> str:
    return f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit // 2**10} KB"


class _Unusable(str):
    """A JSON number or constant the parser kept as its text, to be refused with its field."""


def parse_json(path: Path, text: str) -> Any:
    """The JSON document in ``text``, refused with the file (and field, where there is one)
    when it is not JSON, nests deeper than anything we take, or holds a number no field
    takes: more than ``MAX_NUMBER_DIGITS`` digits, not finite, NaN."""
    try:
        document = json.loads(
            text,
            parse_int=lambda d: _Unusable(d) if len(d.lstrip("-")) > MAX_NUMBER_DIGITS else int(d),
            parse_float=lambda d: _Unusable(d) if not math.isfinite(float(d)) else float(d),
            parse_constant=_Unusable,
        )
    except json.JSONDecodeError as err:
        raise CliError(
            f"{path}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
            EXIT_INPUT,
        ) from None
    except RecursionError:
        raise CliError(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels", EXIT_INPUT) from None
    # Walked without recursion: the point is to refuse what would exhaust the stack later.
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while stack:
        value, where = stack.pop()
        field = ".".join(where) or "(top level)"
        if len(where) > MAX_JSON_DEPTH:
            raise CliError(
                f"{path}: {field}: nested deeper than {MAX_JSON_DEPTH} levels", EXIT_INPUT
            )
        if isinstance(value, _Unusable):
            digits = len(value.lstrip("-"))
            shown = value if len(value) <= 20 else f"a number of {digits} digits"
            raise CliError(
                f"{path}: {field}: {shown} is not a number any field takes (finite, at most "
                f"{MAX_NUMBER_DIGITS} digits)",
                EXIT_INPUT,
            )
        if isinstance(value, dict):
            stack += [(item, (*where, str(key))) for key, item in value.items()]
        elif isinstance(value, list):
            stack += [(item, (*where, str(index))) for index, item in enumerate(value)]
    return document


def read_input(process: Process, path: Path) -> BaseModel:
    """Load and validate an input file, naming the file and field on any problem."""
    document = parse_json(path, read_text_file(path, MAX_INPUT_BYTES))
    try:
        return process.input_model.model_validate(document)
    except ValidationError as err:
        problems = validation_problems(err, whole="(top level)", limit=8)
        raise CliError(
            f"{path}: not a valid {process.command} input: {problems}", EXIT_INPUT
        ) from None


def check_document_paths(payload: BaseModel, settings: Settings, path: Path) -> None:
    """Refuse a document path the worker would refuse (it checks again), before any run."""
    documents = settings.documents
    try:
        check_documents(payload, documents.intake_dir, documents.max_bytes)
    except IntakeRefusal as refusal:
        raise CliError(f"{path}: {refusal}", EXIT_INPUT) from None


# --- output ---------------------------------------------------------------------------------


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


def _workflow_id(text: str) -> str:
    """A workflow id chosen on the command line: one that shows as typed, in every listing."""
    if not 1 <= len(text) <= MAX_WORKFLOW_ID_CHARS or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"a workflow id is 1 to {MAX_WORKFLOW_ID_CHARS} printable characters"
        )
    return text


def _run_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a run id (a UUID, as `status` shows under run:)"
        ) from None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decision_from(args: argparse.Namespace, verdict: str) -> DecisionInput:
    """The decision the command line asks for, checked before anything is sent: each problem
    named by the flag (and file) it came from, exit code 2."""
    final_text_file = getattr(args, "final_text_file", None)
    flags = {
        "reviewer": "--reviewer",
        "comment": "--comment",
        "reason": "--reason",
        "final_text": f"--final-text-file {final_text_file}",
        "amount": "--amount",
    }
    try:
        return DecisionInput(
            verdict=verdict,
            reviewer=args.reviewer,
            comment=getattr(args, "comment", None),
            reason=getattr(args, "reason", None),
            final_text=(
                read_text_file(Path(final_text_file), MAX_FINAL_TEXT_BYTES, "--final-text-file")
                if final_text_file
                else None
            ),
            amount=getattr(args, "amount", None),
        )
    except ValidationError as err:
        problems = [
            f"{flags.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else args.command}: {e['msg']}"
            for e in err.errors()
        ]
        raise CliError("; ".join(problems), EXIT_INPUT) from None


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
        f"; escalates {_when(pending.sla_deadline)}; safe path {_when(pending.final_deadline)}"
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
        show(f"    {_when(step.started_at)}  {step.status:<9} {step.name} {took}{retries}{note}")
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
    lines = [f"  decision: {decision.outcome} by {who} at {_when(decision.decided_at)}"]
    if decision.amount is not None:
        lines.append(f"    amount: {decision.amount}")
    for vote in decision.votes:
        lines.append(f"    {vote.verdict} by {vote.reviewer} at {_when(vote.at)}")
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
    show(f"  started by {trail.started_by} at {_when(trail.started_at)}")
    for item in trail.inputs:
        show(f"  input {item.name}: sha256 {item.sha256}")
    for event in trail.events:
        actor = f" [{event.actor}]" if event.actor else ""
        show(f"  {_when(event.at)}  {event.kind:<18}{actor} {event.summary}")
        show(_remarks(event.detail.get("comment"), event.detail.get("reason"), indent=" " * 27))


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
            f"{workflow_id}: no worker answered in time; is `{project_command('worker.py')}` "
            "running?"
        )
    if err.status == RPCStatusCode.UNAVAILABLE:
        return CliError(f"Temporal is unavailable: {err.message}")
    return CliError(f"{workflow_id}: {err.message}")


async def _describe(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription:
    """The run the handle names (its latest run, or the one of ``--run-id``), or one line
    saying why there is none."""
    try:
        return await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND and handle.run_id:
            raise CliError(f"no run '{handle.run_id}' of '{handle.id}'") from None
        raise _rpc_problem(err, handle.id) from None


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
    except WorkflowAlreadyStartedError:
        raise CliError(
            f"a run with id '{workflow_id}' is already running; "
            f"see {project_command('starter.py')} status {shlex.quote(workflow_id)}"
        ) from None
    except RPCError as err:
        raise CliError(f"could not start the run: {err.message}") from None
    show(f"started {process.workflow_type} {workflow_id}")
    if not args.wait:
        show(f"  follow it: {project_command('starter.py')} status {shlex.quote(workflow_id)}")
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
                show(f"  {step.status:<9} {step.name}" + (f"  [{step.note}]" if step.note else ""))
        if status.pending_decision and not announced_pending:
            announced_pending = True
            show(f"  {line}" for line in describe_pending(handle.id, status.pending_decision))
        if not status.pending_decision:
            announced_pending = False
        if status.awaiting_input and not announced_input:
            show(f"  {line}" for line in describe_awaiting(handle.id, status.awaiting_input))
        announced_input = status.awaiting_input is not None
        if status.state != "running":
            break
        description = await _describe(handle)
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = await _query(handle, "status", RunStatus)
            break
        await asyncio.sleep(0.5)
    if status.state == "completed" and status.outcome:
        show(f"outcome: {json.dumps(status.outcome)}")
        return 0
    try:
        await handle.result()
    except WorkflowFailureError as err:
        cause = err.cause.message if err.cause and hasattr(err.cause, "message") else str(err)
        show(f"failed: {cause}")
        return EXIT_FAILURE
    except RPCError as err:
        raise _rpc_problem(err, handle.id) from None
    return 0


async def cmd_decide(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    handle = client.get_workflow_handle(args.workflow_id)
    state = (await _describe(handle)).status
    if state != WorkflowExecutionStatus.RUNNING:
        raise CliError(
            f"{args.workflow_id} has finished ({state.name.lower() if state else '?'}); "
            "it waits for no decision"
        )
    decision = await decision_to_send(handle, settings, args.decision)
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
    show(f"{args.workflow_id}: {receipt.message}")
    return 0 if receipt.accepted else EXIT_FAILURE


def visibility_literal(value: str) -> str:
    """``value`` as a quoted string in a visibility query, so no value can end the string and
    add a condition of its own (``x' OR Domain != 'y``). Backslashes, double quotes and
    control characters are refused rather than escaped: the server's visibility stores do not
    all read their escapes the same way, and no domain, status or id we query needs them."""
    if not value.isprintable() or "\\" in value or '"' in value:
        raise CliError(
            f"cannot query for {value!r}: it holds a quote, backslash or control", EXIT_INPUT
        )
    return "'" + value.replace("'", "''") + "'"


async def decision_to_send(
    handle: WorkflowHandle[Any, Any], settings: Settings, decision: DecisionInput
) -> DecisionInput:
    """The decision as typed, signed with the reviewer's own key for the request the run is
    waiting on now (unsigned only where the configuration does not require signatures)."""
    status: RunStatus = await _query(handle, "status", RunStatus)
    pending = status.pending_decision
    if pending is None:
        raise CliError(f"{handle.id} is not waiting for a decision")
    try:
        return signing.signed_decision(
            settings,
            workflow_id=handle.id,
            request_id=pending.request_id,
            **decision.model_dump(
                include={"verdict", "reviewer", "comment", "reason", "final_text", "amount"}
            ),
        )
    except RegistryError as err:
        if settings.signatures.require_signed_decisions:
            raise CliError(f"cannot sign: {err}") from None
        return decision


async def cmd_sign(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    """Print a signed ``approve`` or ``reject`` signal payload for the plain temporal CLI."""
    handle = client.get_workflow_handle(args.workflow_id)
    state = (await _describe(handle)).status
    if state != WorkflowExecutionStatus.RUNNING:
        raise CliError(f"{args.workflow_id} has finished; it waits for no decision")
    decision = await decision_to_send(handle, settings, decision_from(args, args.verdict))
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
    query = f"ExecutionStatus = {visibility_literal('Running')}"
    if args.domain:
        # The parser only takes known domains; quoted all the same, as every value is.
        query += f" AND {sa.DOMAIN.name} = {visibility_literal(args.domain)}"
    refreshed = 0
    async for execution in client.list_workflows(query):
        if not execution.typed_search_attributes.get(sa.DOMAIN):
            continue  # not a Sluice run
        try:
            await client.get_workflow_handle(execution.id).signal("refresh_policy")
        except RPCError as err:
            show(f"  {execution.id}: not refreshed ({err.message})", file=sys.stderr)
            continue
        refreshed += 1
    print(f"asked {refreshed} running run(s) to re-read their approval policy")
    return 0


async def cmd_pending(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    waiting = (sa.ApprovalStatus.PENDING, sa.ApprovalStatus.ESCALATED)
    query = (
        f"ExecutionStatus = {visibility_literal('Running')} AND {sa.APPROVAL_STATUS.name} "
        f"IN ({', '.join(visibility_literal(status.value) for status in waiting)})"
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
            printable_json(
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
        )
        return 0
    if not rows:
        print("no run is waiting for a decision")
        return 0
    print(f"{'WORKFLOW ID':<44} {'DOMAIN':<15} {'DECISION':<20} {'STATUS':<10} {'RISK':<7} SINCE")
    for workflow_id, domain, needed, status, risk, since in sorted(rows, key=lambda r: str(r[5])):
        # Escaped before padding, so the columns stay aligned.
        workflow_id, domain, needed = (printable(v) for v in (workflow_id, domain, needed))
        show(f"{workflow_id:<44} {domain:<15} {needed:<20} {status:<10} {risk:<7} {_when(since)}")
    return 0


async def cmd_status(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    handle = client.get_workflow_handle(args.workflow_id, run_id=args.run_id)
    description = await _describe(handle)
    status: RunStatus = await _query(handle, "status", RunStatus)
    if args.json:
        print(printable_json(status.model_dump_json(indent=2)))
    else:
        print_status(status, run_id=description.run_id)
    return 0


async def cmd_audit(client: Client, settings: Settings, args: argparse.Namespace) -> int:
    handle = client.get_workflow_handle(args.workflow_id, run_id=args.run_id)
    await _describe(handle)
    trail: AuditTrail = await _query(handle, "audit", AuditTrail)
    if args.json:
        print(printable_json(trail.model_dump_json(indent=2)))
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
    """Draw the run from the local span file, or from its history when no spans were kept
    (or an earlier run is asked for: the span file holds every run under the workflow id)."""
    path = Path(args.file) if args.file else settings.spans_file
    spans = [] if args.run_id else timeline.spans_of_run(read_spans(path), args.workflow_id)
    if spans:
        show(f"trace of {args.workflow_id} ({len(spans)} spans from {path})")
        show(timeline.draw_spans(spans, args.workflow_id))
        return 0
    client = await connect(
        settings.temporal,
        codec=codec_from_settings(settings),
        external_storage=payload_storage(settings),
    )
    handle = client.get_workflow_handle(args.workflow_id, run_id=args.run_id)
    await _describe(handle)
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
    show(
        f"run {args.run_id} of {args.workflow_id}: timings from its history "
        "(no model, token or cost detail)"
        if args.run_id
        else f"no spans for {args.workflow_id} in {path}: timings from the run's history "
        "instead (no model, token or cost detail)"
    )
    show(timeline.draw_history(history.events, args.workflow_id))
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
    show(f"{args.workflow_id}: {payload.item} sent by {payload.provided_by}")
    show(f"  follow it: {project_command('starter.py')} status {shlex.quote(args.workflow_id)}")
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
    start.add_argument(
        "--id", type=_workflow_id, help="workflow id (default: derived from the input)"
    )
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
    refresh.add_argument(
        "--domain", choices=sorted({p.domain for p in PROCESSES}), help="only this domain"
    )

    for name, text in (("status", "where a run is"), ("audit", "a run's audit trail")):
        command = commands.add_parser(name, help=text)
        command.add_argument("workflow_id")
        command.add_argument(
            "--run-id", type=_run_id, help="an earlier run with this workflow id (default: latest)"
        )
        command.add_argument("--json", action="store_true")
        if name == "audit":
            command.add_argument(
                "--verify", action="store_true", help="re-check every decision's signature"
            )
    add_signing_parsers(commands)

    trace = commands.add_parser("trace", help="a run's steps, model calls and waits as a tree")
    trace.add_argument("workflow_id")
    trace.add_argument("--run-id", type=_run_id, help="an earlier run, drawn from its history")
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
    for index, value in enumerate(argv):
        if not _is_utf8(value):
            # Undecodable bytes on the command line: refused before they reach a run.
            flag = argv[index - 1] if index and argv[index - 1].startswith("--") else None
            raise CliError(f"{flag or 'argument ' + value}: not UTF-8 text", EXIT_INPUT)
    args = parser().parse_args(argv)
    if args.command == "reviewers":
        return reviewers.main([*(["--config", args.config] if args.config else []), *args.rest])
    settings = load_settings(args.config)
    if args.command in ("approve", "reject"):
        args.decision = decision_from(args, args.command)
    if args.command == "start":
        # Validate before connecting: a bad file never reaches the server.
        args.payload = read_input(BY_COMMAND[args.process], Path(args.file))
        check_document_paths(args.payload, settings, Path(args.file))
    if args.command == "provide":
        args.provided = read_provided(Path(args.file))
        check_document_paths(args.provided[1], settings, Path(args.file))
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
        show(f"error: {err}", file=sys.stderr)
        return err.code
    except (ConfigError, TemporalUnreachable, RegistryError) as err:
        show(f"error: {err}", file=sys.stderr)
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
        show(
            f"error: unexpected {type(err).__name__}: {err} (SLUICE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
