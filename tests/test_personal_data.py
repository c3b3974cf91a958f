"""Personal data never reaches the Temporal server in clear, end to end: a run started the way
an operator starts it (``starter.py``), worked by the production worker, then read back raw
from the server by a client without the key. Only the codec (or a token holder of the codec
server) turns the history back into readable text.

Adding a domain with personal data is one more ``PersonalDataCase`` in ``CASES``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.service import RPCError

from activities.cargo.models import Shipment
from sluice.app.catalog import BY_COMMAND
from sluice.binaries import temporal_cli
from sluice.client import connect
from sluice.codec import EncryptionCodec
from sluice.codec_server import CodecServer
from sluice.config import Settings, TemporalSettings
from sluice.framework.process import RunStatus
from tests.conftest import EXAMPLES, example
from workflows.cargo_release import CargoReleaseOutcome, CargoReleaseWorkflow

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "codec-token-for-tests"


@dataclass(frozen=True)
class PersonalDataCase:
    """A sample input, the personal data in it (or in the documents it names) that must never
    be stored in clear."""

    command: str
    example: str
    personal: tuple[str, ...]
    documents: tuple[str, ...] = ()

    @property
    def input_file(self) -> Path:
        return EXAMPLES / self.command.replace("-", "_") / f"{self.example}.json"

    def source_text(self) -> str:
        files = [self.input_file, *(ROOT / document for document in self.documents)]
        return "\n".join(file.read_text(encoding="utf-8") for file in files)


CASES = [
    pytest.param(
        PersonalDataCase(
            "cargo-release",
            "clean",
            (
                "Lakeside Fabrication Ltd",  # consignee
                "imports@lakeside-fabrication.example",  # consignee contact
                "Brightwater Customs Brokers",  # notify party
                "CNC milling machine parts",  # document text
            ),
        ),
        id="cargo-release",
    ),
    pytest.param(
        PersonalDataCase(
            "kyc-review",
            "low_risk",
            (
                "Amélie Durand",  # applicant
                "1991-03-14",  # date of birth
                "12 Rue des Tanneurs",  # address
                "21FD83145",  # passport number
                "Villeurbanne",  # place of birth: document text only
            ),
            documents=("examples/kyc_review/intake/amelie_durand_passport.txt",),
        ),
        id="kyc-review",
    ),
    pytest.param(
        PersonalDataCase(
            "support-triage",
            "refund",
            (
                "Laura Bennett",  # customer, signing the ticket
                "stopped responding after a week",  # ticket text
            ),
        ),
        id="support-triage",
    ),
    pytest.param(
        # A sole trader's bank account is personal data; anyone's is what fraud is made of.
        PersonalDataCase("invoice-approval", "mismatch", ("DE89370400440532013000",)),
        id="invoice-approval",
    ),
]


def address(client: Client) -> str:
    return client.service_client.config.target_host


def stored_forms(text: str) -> list[bytes]:
    """How ``text`` would look in a stored payload: raw UTF-8 or JSON-escaped."""
    return list({text.encode(), json.dumps(text)[1:-1].encode()})


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere inside a protobuf message (inputs, results, failures, summaries,
    search attributes, headers...)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            entry_value = field.message_type.fields_by_name["value"]
            if entry_value.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value.values():
                    yield from payloads_in(item)
        elif field.is_repeated:
            for item in value:
                yield from payloads_in(item)
        else:
            yield from payloads_in(value)


async def start_with_starter(case: PersonalDataCase, settings: Settings, client: Client) -> str:
    """``python starter.py start ...`` in its own process, configured like an operator's."""
    workflow_id = f"{case.command}-privacy-{uuid.uuid4().hex[:8]}"
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": address(client),
        "SLUICE_TASK_QUEUE": settings.temporal.task_queue,
        "SLUICE_DATA_DIR": str(settings.data_dir),
        "SLUICE_CODEC_KEYS_FILE": str(settings.codec.keys_file),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "starter.py",
        "start",
        case.command,
        str(case.input_file),
        "--id",
        workflow_id,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode()
    return workflow_id


async def settled(client: Client, workflow_id: str) -> RunStatus:
    """The run's status once it has finished or waits for a person."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(600):
        try:
            status: RunStatus = await handle.query("status", result_type=RunStatus)
        except RPCError:
            await asyncio.sleep(0.1)
            continue
        if status.state != "running" or status.pending_decision is not None:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} never finished nor asked for a decision")


async def temporal(*args: str) -> tuple[int, str]:
    """The real ``temporal`` CLI, with no configuration from this machine's environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    process = await asyncio.create_subprocess_exec(
        temporal_cli(),
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.mark.parametrize("case", CASES)
async def test_personal_data_is_stored_only_encrypted(
    case: PersonalDataCase,
    client: Client,
    settings: Settings,
    codec: EncryptionCodec,
    make_worker: Callable[..., Any],
) -> None:
    assert case.command in BY_COMMAND
    for text in case.personal:
        assert text in case.source_text(), f"{text!r} is not in the sample"

    async with make_worker(client):
        workflow_id = await start_with_starter(case, settings, client)
        await settled(client, workflow_id)

    # Read back as the server stores it: a client without the codec, no decoding at all.
    keyless = await connect(TemporalSettings(address=address(client)))
    handle = keyless.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    description = await handle.describe()
    stored = b"".join(event.SerializeToString() for event in history.events)
    stored += description.raw_description.SerializeToString()
    assert len(history.events) > 10
    for text in case.personal:
        for form in stored_forms(text):
            assert form not in stored, f"{text!r} is stored in clear"

    # The same history is complete and readable with the key.
    stored_payloads = [p for event in history.events for p in payloads_in(event)]
    decoded = b"\n".join(p.data for p in await codec.decode(stored_payloads))
    for text in case.personal:
        assert any(form in decoded for form in stored_forms(text)), f"{text!r} is lost"


async def test_plain_json_from_the_temporal_cli_is_worked_by_an_encrypting_worker(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    workflow_id = f"cargo-cli-{uuid.uuid4().hex[:8]}"
    async with make_worker(client):
        code, output = await temporal(
            "workflow",
            "start",
            "--address",
            address(client),
            "--task-queue",
            settings.temporal.task_queue,
            "--type",
            "CargoReleaseWorkflow",
            "--workflow-id",
            workflow_id,
            "--input-file",
            str(EXAMPLES / "cargo_release" / "clean.json"),
        )
        assert code == 0, output
        handle = client.get_workflow_handle(workflow_id, result_type=CargoReleaseOutcome)
        outcome = await asyncio.wait_for(handle.result(), timeout=60)
    assert outcome.shipment_id == "SHP-2026-0418"
    assert outcome.action == "released"


async def test_temporal_workflow_show_decodes_only_through_the_codec_server_with_its_token(
    client: Client,
    settings: Settings,
    codec: EncryptionCodec,
    make_worker: Callable[..., Any],
) -> None:
    workflow_id = f"cargo-show-{uuid.uuid4().hex[:8]}"
    async with make_worker(client):
        handle = await client.start_workflow(
            CargoReleaseWorkflow.run,
            Shipment.model_validate(example("cargo_release", "clean")),
            id=workflow_id,
            task_queue=settings.temporal.task_queue,
        )
        await asyncio.wait_for(handle.result(), timeout=60)

    server = CodecServer(codec, TOKEN, port=0)
    await server.start()
    try:
        endpoint = f"http://127.0.0.1:{server.port}"
        show = (
            *("workflow", "show", "-w", workflow_id, "--detailed"),
            *("--address", address(client), "--command-timeout", "5s"),
        )
        _, with_token = await temporal(
            *show, "--codec-endpoint", endpoint, "--codec-auth", f"Bearer {TOKEN}"
        )
        # Refused with 401, the CLI retries until its timeout and shows nothing.
        refused, wrong_token = await temporal(
            *show, "--codec-endpoint", endpoint, "--codec-auth", "Bearer guess"
        )
        _, without_codec = await temporal(*show)
    finally:
        await server.stop()

    assert "input[0].consignee: Lakeside Fabrication Ltd" in with_token
    assert refused != 0 and "Lakeside Fabrication Ltd" not in wrong_token
    assert "encryption-key-id" in without_codec
    assert "Lakeside Fabrication Ltd" not in without_codec
