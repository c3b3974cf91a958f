"""The command line's commands: each takes a client, the settings and the parsed arguments, and
returns the exit code."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shlex
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel
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

from sluice import search_attributes as sa
from sluice import signing, timeline
from sluice.app.catalog import BY_COMMAND
from sluice.app.cli_help import EXIT_FAILURE, EXIT_INPUT, EXIT_RUN_FAILED, EXIT_WAITING
from sluice.app.inputs import CliError, decision_from
from sluice.app.rendering import (
    describe_awaiting,
    describe_pending,
    print_audit,
    print_status,
    print_verified,
    show,
    when,
)
from sluice.client import connect
from sluice.codec import codec_from_settings
from sluice.config import Settings
from sluice.framework.approval import DecisionInput, DecisionReceipt
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from sluice.framework.signatures import REQUESTER_MEMO
from sluice.payload_store import payload_storage
from sluice.reviewers import RegistryError
from sluice.telemetry import read_spans
from sluice.terminal import printable, printable_json, project_command

QUERY_TIMEOUT = timedelta(seconds=10)


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
    # Under -o json, stdout is the JSON answer alone: these lines go to stderr.
    memo = requester_memo(
        settings, payload, workflow_id, out=sys.stderr if args.json else sys.stdout
    )
    try:
        handle = await client.start_workflow(
            process.workflow_type,
            payload,
            id=workflow_id,
            task_queue=settings.temporal.task_queue,
            static_summary=f"{process.title} {subject}",
            static_details=(
                f"Started from `{Path(args.file).name}` (sha256 {digest}…) "
                f"by {process.command} CLI at {when(datetime.now(UTC))}"
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
    started = {"workflow_id": workflow_id, "run_id": handle.first_execution_run_id}
    if args.json and not args.wait:
        print(json.dumps({**started, "workflow_type": process.workflow_type}))
        return 0
    if not args.json:
        show(f"started {process.workflow_type} {workflow_id}")
    if not args.wait:
        show(f"  follow it: {project_command('starter.py')} status {shlex.quote(workflow_id)}")
        return 0
    return await watch(handle, as_json=args.json)


def requester_memo(
    settings: Settings, payload: BaseModel, workflow_id: str, *, out: TextIO = sys.stdout
) -> dict[str, str]:
    """The requester's signed start request, when their key is on this machine; without it
    the run records the requester as unverified."""
    requester = getattr(payload, "requested_by", None)
    if not isinstance(requester, str):
        return {}
    signer = signing.requester_signer(settings, requester)
    if signer is None:
        show(f"  requester {requester}: not signed (no key here), recorded as unverified", out)
        return {}
    token = signing.start_token(
        signer,
        requester=signer.issuer,
        workflow_id=workflow_id,
        lifetime=timedelta(minutes=settings.signatures.token_minutes),
    )
    show(f"  requester {signer.issuer}: start request signed with key {signer.kid[:12]}…", out)
    return {REQUESTER_MEMO: token}


async def watch(handle: WorkflowHandle[Any, Any], *, as_json: bool = False) -> int:
    """Show steps as they happen, then the outcome; at a human gate, say plainly what is
    needed and how to give it, and stop following (the run waits on the server)."""
    shown: dict[tuple[str, datetime], str] = {}
    while True:
        status: RunStatus = await _query(handle, "status", RunStatus)
        for step in status.steps:
            key = (step.name, step.started_at)
            if shown.get(key) != step.status and not as_json:
                show(f"  {step.status:<9} {step.name}" + (f"  [{step.note}]" if step.note else ""))
            shown[key] = step.status
        if status.pending_decision or status.awaiting_input:
            if as_json:
                print(printable_json(status.model_dump_json()))
            elif status.pending_decision:
                show(f"  {line}" for line in describe_pending(handle.id, status.pending_decision))
            elif status.awaiting_input:
                show(f"  {line}" for line in describe_awaiting(handle.id, status.awaiting_input))
            return EXIT_WAITING
        if status.state != "running":
            break
        description = await _describe(handle)
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = await _query(handle, "status", RunStatus)
            break
        await asyncio.sleep(0.5)
    if status.state == "completed" and status.outcome:
        if as_json:
            print(printable_json(status.model_dump_json()))
        else:
            show(f"outcome: {json.dumps(status.outcome)}")
        return 0
    try:
        await handle.result()
    except WorkflowFailureError as err:
        cause = err.cause.message if err.cause and hasattr(err.cause, "message") else str(err)
        if as_json:
            print(json.dumps({"workflow_id": handle.id, "state": "failed", "failure": cause}))
        else:
            show(f"failed: {cause}")
        return EXIT_RUN_FAILED
    except RPCError as err:
        raise _rpc_problem(err, handle.id) from None
    if as_json:
        print(printable_json(status.model_dump_json()))
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
    if args.json:
        answer = {"workflow_id": args.workflow_id, **receipt.model_dump(mode="json")}
        print(printable_json(json.dumps(answer)))
    else:
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
    show(
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
    if args.json:
        print(json.dumps({"refreshed": refreshed}))
    else:
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
        show(f"{workflow_id:<44} {domain:<15} {needed:<20} {status:<10} {risk:<7} {when(since)}")
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


async def cmd_trace(settings: Settings, args: argparse.Namespace) -> int:
    """Draw the run from the local span file, or from its history when no spans were kept
    (or an earlier run is asked for: the span file holds every run under the workflow id)."""
    path = Path(args.file) if args.file else settings.spans_file
    spans = [] if args.run_id else timeline.spans_of_run(read_spans(path), args.workflow_id)
    if spans and args.json:
        print(printable_json(json.dumps([span.model_dump(mode="json") for span in spans])))
        return 0
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
    if args.json:
        # No spans were kept: the history is the record (events as the temporal CLI gives them).
        print(printable_json(history.to_json()))
        return 0
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
    if args.json:
        sent = {"workflow_id": args.workflow_id, "item": payload.item}
        print(printable_json(json.dumps({**sent, "provided_by": payload.provided_by})))
        return 0
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
