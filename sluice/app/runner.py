"""Run a worker until SIGINT/SIGTERM, against a Temporal service or the embedded dev server.

With ``--dev`` the real Temporal dev server starts first (state in ``{data_dir}/temporal.sqlite``
so runs survive a restart, Web UI on port 8233). With ``--examples`` the sample runs from
``examples/`` are started too, and every run that waits for a decision is printed with the
exact command that approves it. On a stop signal the worker stops polling, lets running
activities finish (within a grace period), and then the embedded server stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from sluice import search_attributes
from sluice.app.catalog import PROCESSES
from sluice.app.inbox import RunningInbox, demo_setup, start_inbox
from sluice.app.inputs import CliError, read_input
from sluice.app.rendering import approve_command, next_reviewer, provide_command, show
from sluice.app.wiring import build_worker
from sluice.client import connect
from sluice.codec import codec_from_settings
from sluice.codec_server import start_for_dev, usage_lines
from sluice.config import ConfigError, Settings
from sluice.converter import sluice_data_converter
from sluice.devserver import start_dev_server
from sluice.framework import Process
from sluice.framework.process import RunStatus
from sluice.logs import Silence, announce
from sluice.payload_store import payload_storage, store_location
from sluice.reviewers import ensure_sample_reviewers
from sluice.telemetry import install_telemetry
from sluice.terminal import project_command, typed_path

log = logging.getLogger("sluice.worker")


@dataclass
class ServeOptions:
    dev: bool = False
    examples: bool = False
    port: int = 7233
    ui_port: int = 8233
    graceful_shutdown: timedelta = timedelta(seconds=20)
    # The approval inbox beside the embedded server (None: not started).
    inbox_port: int | None = 8234


async def serve(settings: Settings, options: ServeOptions) -> None:
    """Run until a stop signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # The first run creates the key ring; every payload is encrypted unless switched off.
    codec = codec_from_settings(settings, create=True)
    storage = payload_storage(settings)
    server = None
    codec_server = None
    if options.dev:
        sample_reviewer_keys(settings)
        database = settings.data_dir / "temporal.sqlite"
        ports = {"--port": options.port, "--ui-port": options.ui_port}
        if options.inbox_port:
            ports["--inbox-port"] = options.inbox_port
        codec_port = {"SLUICE_CODEC_PORT": settings.codec.server_port} if codec is not None else {}
        refuse_shared_ports(ports | codec_port)
        refuse_taken_ports(ports)
        if codec is not None:
            codec_server = await start_for_dev(settings, codec, options.ui_port)
        try:
            server = await start_dev_server(
                database_file=database,
                port=options.port,
                ui_port=options.ui_port,
                data_converter=sluice_data_converter(codec, storage),
                ui_codec_endpoint=codec_server.endpoint if codec_server else None,
            )
        except RuntimeError as err:  # the SDK's words for a server that did not come up
            if codec_server is not None:
                await codec_server.stop()
            raise ConfigError(f"the Temporal dev server did not start: {err}") from None
        client = server.client
        print(f"Temporal dev server on 127.0.0.1:{options.port} (state in {database})")
        print(f"Temporal Web UI:   http://localhost:{options.ui_port}")
        if codec_server is not None:
            print("\n".join(usage_lines(settings, codec_server)))
    else:
        client = await connect(settings.temporal, codec=codec, external_storage=storage)
        announce(
            f"connected to Temporal at {settings.temporal.address} ({settings.temporal.namespace})"
        )
        try:
            await search_attributes.register(client)
        except RPCError as err:
            # Hosted namespaces manage search attributes outside the operator API.
            log.warning(
                "could not register search attributes (%s); create them once with "
                "'temporal operator search-attribute create' or in your cloud console: %s",
                err.message,
                ", ".join(key.name for key in search_attributes.ALL_KEYS),
            )
    announce(
        f"payloads: encrypted with key '{codec.ring.current}'"
        if codec
        else "payloads: NOT encrypted (SLUICE_CODEC_DISABLED)"
    )
    announce(f"large payloads: {store_location(settings)}")
    telemetry = install_telemetry(settings, "sluice-worker")
    client = telemetry.traced(client)
    announce(f"traces: {telemetry.destination}")
    if settings.temporal.build_id:
        announce(
            f"build: {settings.temporal.deployment_name}.{settings.temporal.build_id} "
            f"(worker versioning {'on' if settings.temporal.worker_versioning else 'off'})"
        )
    inbox = None
    try:
        if options.dev and options.inbox_port is not None:
            inbox = await start_dev_inbox(settings, client, options.inbox_port)
        worker = build_worker(client, settings, graceful_shutdown_timeout=options.graceful_shutdown)
        async with worker:
            announce(f"worker polling task queue '{settings.temporal.task_queue}'; Ctrl-C stops it")
            if options.examples:
                await start_examples(client, settings)
            await stop.wait()
            announce("stopping: letting running activities finish...")
            if server is not None:
                # Ctrl-C reaches the embedded server and the worker together, so the server may
                # be gone before the worker says goodbye to it: the core's warning about that
                # farewell says nothing the user needs.
                logging.getLogger("temporalio.core").addFilter(Silence("during worker shutdown"))
    finally:
        if inbox is not None:
            await inbox.stop()
        telemetry.flush()
        if server is not None:
            await server.shutdown()
        if codec_server is not None:
            await codec_server.stop()
    announce("stopped")


async def start_dev_inbox(settings: Settings, client: Client, port: int) -> RunningInbox:
    """The approval inbox on the embedded default, with the demo users: their one-time
    passwords are printed on the first run only (kept as argon2 hashes)."""
    passwords = demo_setup(settings, sorted(_allow_listed(settings)))
    inbox = await start_inbox(settings, client, port=port)
    reset = f"{typed_path(sys.executable)} -m sluice.app.inbox add-user NAME --reset"
    show(["", f"Sluice inbox:      {inbox.url}"])
    if passwords:
        show(f"  demo users, with one-time passwords shown this once (new one: {reset}):")
        show([f"    {user:<6} {password}" for user, password in passwords.items()])
    else:
        show(f"  demo users alice, bob, dave: passwords shown on the first run (new one: {reset})")
    return inbox


def _allow_listed(settings: Settings) -> set[str]:
    return {n for a in settings.approvals.values() for names in a.reviewers.values() for n in names}


def refuse_shared_ports(ports: dict[str, int]) -> None:
    """Say which two of the main job's servers were given one port, before either starts (the
    second would fail to start, or a client would reach the wrong server)."""
    given: dict[int, str] = {}
    for name, port in ports.items():
        if port in given:
            raise ConfigError(f"{given[port]} and {name} are both {port}: give each its own port")
        given[port] = name


def refuse_taken_ports(ports: dict[str, int]) -> None:
    """Say in one line which port is taken, before the dev server fails to start on it: most
    often the main job is already running (or still stopping) in another terminal."""
    for flag, port in ports.items():
        with socket.socket() as probe:
            # A port left in TIME_WAIT by the previous stop is free to listen on again.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise ConfigError(
                    f"127.0.0.1:{port} is in use: is the main job (`bash scripts/run.sh`) or "
                    f"another Temporal server already running? Stop it, or choose {flag}"
                ) from None


def sample_reviewer_keys(settings: Settings) -> None:
    """The demo signs decisions too: on first run every sample reviewer (and everyone the
    allow-lists name) gets a key in the data folder, registered in the reviewer registry."""
    named = [
        n for a in settings.approvals.values() for names in a.reviewers.values() for n in names
    ]
    created = ensure_sample_reviewers(settings.data_dir, settings.reviewer_registry_file, named)
    if created:
        announce(
            f"sample reviewer keys for {', '.join(created)} in "
            f"{settings.data_dir / 'reviewer-keys'} (development only: in production each "
            "reviewer holds their own key)"
        )


async def start_examples(
    client: Client, settings: Settings, processes: Sequence[Process[Any]] = PROCESSES
) -> None:
    """Start each sample input once: ids are stable and never reused, so a restart finds the
    runs of the earlier start (finished or not) and says so instead of starting them again."""
    ids = []
    already = 0
    refused = []
    # A sample that waits for a document may ship it in provide/<same name>.json.
    deliveries: dict[str, Path] = {}
    for process in processes:
        for path in sorted(process.examples.glob("*.json")):
            try:
                payload = read_input(process, path)
            except CliError as err:  # an edited sample: say so, and start the others
                refused.append(f"  not started: {err}")
                continue
            workflow_id = f"demo-{process.command}-{path.stem}"
            try:
                await client.start_workflow(
                    process.workflow_type,
                    payload,
                    id=workflow_id,
                    task_queue=settings.temporal.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"{process.title} {process.subject(payload)} (example)",
                    static_details=f"Sample run from `examples/{path.parent.name}/{path.name}`",
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(search_attributes.DOMAIN, process.domain)]
                    ),
                )
            except WorkflowAlreadyStartedError:
                already += 1
            ids.append(workflow_id)
            deliveries[workflow_id] = path.parent / "provide" / path.name
    starter = project_command("starter.py")
    show(["", f"sample runs ({len(ids)}):", *refused])
    if already:
        show(
            f"  {already} already there from an earlier start, not started again "
            f"({len(ids) - already} started now)"
        )
    for workflow_id in ids:
        status = await _settled_status(client, workflow_id)
        if status is None:
            show(f"  {workflow_id}: no answer yet; see {starter} status {workflow_id}")
            continue
        line = f"  {workflow_id}: {status.state}"
        if status.pending_decision:
            request = status.pending_decision.request
            line += f", waiting for {request.kind} (risk {request.risk.value})"
            reviewer = next_reviewer(status.pending_decision)
            show([line, f"      approve: {approve_command(workflow_id, reviewer)}"])
            continue
        if status.awaiting_input:
            awaiting = status.awaiting_input
            line += f", waiting for {awaiting.request.kind} ({', '.join(awaiting.outstanding)})"
            sample = deliveries[workflow_id]
            # As typed from here: relative under this folder, else absolute (an installed
            # package's samples are in site-packages).
            shown = typed_path(sample) if sample.exists() else "FILE.json"
            show([line, f"      provide: {provide_command(workflow_id, shown)}"])
            continue
        if status.outcome:
            line += f" -> {status.outcome.get('action') or status.outcome.get('decision')}"
        show(line)
    show(["", f"list waiting runs any time with: {starter} pending", ""])


async def _settled_status(client: Client, workflow_id: str) -> RunStatus | None:
    """The run's status once it has finished or is waiting for a human (or after 20 s)."""
    handle = client.get_workflow_handle(workflow_id)
    status: RunStatus | None = None
    for _ in range(80):
        try:
            status = await handle.query("status", result_type=RunStatus)
        except (RPCError, WorkflowQueryFailedError):
            status = None
        if status and (
            status.state != "running"
            or status.pending_decision is not None
            or status.awaiting_input is not None
        ):
            break
        await asyncio.sleep(0.25)
    return status
