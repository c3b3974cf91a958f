"""No message can jam a run: signals, updates and starts that cannot be read, sent as an
attacker or a careless tool would (raw payloads through the gRPC API, the plain ``temporal``
CLI). Each is refused where it entered, the refusal is on the record, and the run can still
be read, decided, and time out on its own deadline."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Header, Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from sluice.codec import ENCODING, KEY_ID, EncryptionCodec
from sluice.config import Settings
from sluice.framework.audit import AuditTrail
from sluice.framework.process import REFUSALS_RECORDED, RunStatus
from sluice.interceptor import TRACE_HEADER
from sluice.payload_store import LOCAL_DRIVER
from sluice.telemetry import Telemetry
from tests.conftest import example
from tests.support import signed_signal, starter, status_until, temporal, waiting_cargo_run

SECONDS = 20


def json_payload(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


def sealed(key_id: bytes | None, data: bytes) -> Payload:
    """A payload that claims our encryption, with whatever key id and bytes a forger chose."""
    metadata = {"encoding": ENCODING}
    if key_id is not None:
        metadata[KEY_ID] = key_id
    return Payload(metadata=metadata, data=data)


def hostile_signals(codec: EncryptionCodec) -> dict[str, tuple[str, list[Payload], str]]:
    """Signal name, raw payloads and what the refusal must say, by case."""
    current = codec.ring.current.encode()
    alice = {"reviewer": "alice"}
    return {
        "no payload": ("approve", [], "expected one payload, got 0"),
        "two payloads": (
            "approve",
            [json_payload(alice), json_payload(alice)],
            "expected one payload, got 2",
        ),
        "binary/plain": (
            "approve",
            [Payload(metadata={"encoding": b"binary/plain"}, data=json.dumps(alice).encode())],
            "encoding 'binary/plain' is not JSON",
        ),
        "binary/null": (
            "approve",
            [Payload(metadata={"encoding": b"binary/null"})],
            "encoding 'binary/null' is not JSON",
        ),
        "made-up encoding": (
            "reject",
            [Payload(metadata={"encoding": b"x/\x1b[31mforged"}, data=b"{}")],
            "is not JSON",
        ),
        "invalid JSON": (
            "approve",
            [Payload(metadata={"encoding": b"json/plain"}, data=b'{"reviewer": "al')],
            "Invalid JSON",
        ),
        "schema failure": ("reject", [json_payload({"reviewer": "alice"})], "reason: Field"),
        "short nonce": ("approve", [sealed(current, b"short")], "too short"),
        "unknown key id": (
            "approve",
            [sealed(b"forged-key", os.urandom(64))],
            "key id 'forged-key'",
        ),
        "bad tag": ("approve", [sealed(current, os.urandom(64))], "failed authentication"),
        "no key id": ("approve", [sealed(None, os.urandom(64))], "carries no"),
        "sealed non-payload": (
            "approve",
            [sealed(current, _seal_bytes(codec, b"\x0a\xff"))],
            "does not hold a payload",
        ),
        "blank rejection reason": (
            "reject",
            [json_payload({"reviewer": "alice", "reason": "  \t "})],
            "a rejection needs a reason",
        ),
        "unknown signal": ("approve\u202e", [json_payload(alice)], "unknown signal"),
        "claim of a payload never stored": (
            "approve",
            [claim(LOCAL_DRIVER, hash_algorithm="sha256", hash_value=os.urandom(32).hex())],
            "a large-payload claim was refused: stored payload not found",
        ),
        "claim outside the store": (
            "reject",
            [claim(LOCAL_DRIVER, hash_algorithm="sha256", hash_value="../../keys.json")],
            "a large-payload claim was refused: not a claim of the local payload store",
        ),
    }


def claim(driver: str, **claim_data: str) -> Payload:
    """An external-storage reference as the SDK writes one in place of a large payload,
    naming whatever store and claim a forger chose."""
    reference = ExternalStorageReference(driver_name=driver, claim_data=claim_data)
    return Payload(
        metadata={"encoding": b"json/protobuf", "messageType": REFERENCE_TYPE},
        data=json_format.MessageToJson(reference).encode(),
    )


REFERENCE_TYPE = ExternalStorageReference.DESCRIPTOR.full_name.encode()


def _seal_bytes(codec: EncryptionCodec, plain: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + codec.ring.cipher(codec.ring.current).encrypt(nonce, plain, None)


async def send_raw_signal(
    client: Client,
    workflow_id: str,
    name: str,
    payloads: list[Payload],
    headers: dict[str, Payload] | None = None,
) -> None:
    """A signal exactly as given: no converter, no codec (the gRPC API anyone can call)."""
    await client.workflow_service.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            signal_name=name,
            input=Payloads(payloads=payloads),
            header=Header(fields=headers or {}),
            identity="hostile-test",
        )
    )


async def refusals(handle: WorkflowHandle[Any, Any], count: int) -> AuditTrail:
    """The audit trail once it holds ``count`` refusals (fails after ``SECONDS``)."""
    for _ in range(SECONDS * 10):
        trail = await handle.query("audit", result_type=AuditTrail)
        if len(refused(trail)) >= count:
            return trail
        await asyncio.sleep(0.1)
    raise AssertionError(f"no refusal recorded within {SECONDS} s: the run is jammed")


def refused(trail: AuditTrail) -> list[str]:
    return [
        e.summary for e in trail.of_kind("decision_refused", "input_refused", "message_refused")
    ]


async def without_task_failures(handle: WorkflowHandle[Any, Any]) -> bool:
    history = await handle.fetch_history()
    return not any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events
    )


HOSTILE_SIGNALS = [
    "no payload",
    "two payloads",
    "binary/plain",
    "binary/null",
    "made-up encoding",
    "invalid JSON",
    "schema failure",
    "short nonce",
    "unknown key id",
    "bad tag",
    "no key id",
    "sealed non-payload",
    "blank rejection reason",
    "unknown signal",
    "claim of a payload never stored",
    "claim outside the store",
]


@pytest.mark.parametrize("case", HOSTILE_SIGNALS)
async def test_a_hostile_signal_is_refused_on_the_record_and_the_run_can_still_be_decided(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    codec: EncryptionCodec,
    make_worker: Callable[..., Any],
    case: str,
) -> None:
    name, payloads, reason = hostile_signals(codec)[case]
    client = dev_env.client
    async with make_worker(client):
        workflow_id = f"hostile-{uuid.uuid4().hex[:8]}"
        handle = await waiting_cargo_run(dev_env, settings, workflow_id)
        before = await handle.query("audit", result_type=AuditTrail)

        await send_raw_signal(client, workflow_id, name, payloads)

        trail = await refusals(handle, 1)
        [refusal] = refused(trail)
        assert reason in refusal, refusal
        assert "\x1b" not in refusal and "\u202e" not in refusal, "shown escaped, not raw"
        assert trail.events[: len(before.events)] == before.events, "nothing recorded is lost"
        status = await handle.query("status", result_type=RunStatus)
        assert status.pending_decision is not None and status.decision is None
        assert status.refused_messages == 1 and not status.flooded

        await handle.signal("approve", await signed_signal(handle, settings, "bob"))
        outcome = await asyncio.wait_for(handle.result(), SECONDS)
    assert outcome["action"] == "released"
    assert outcome["decided_by"] == ["bob"]
    assert await without_task_failures(handle)


async def test_a_forged_trace_header_is_dropped_and_the_decision_still_counts(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    telemetry: Telemetry,
) -> None:
    """With tracing on, Temporal's tracing interceptor reads a signal's trace header before
    the handler runs: an unreadable one would fail the run's task on every retry."""
    client = telemetry.traced(dev_env.client)
    forged = {TRACE_HEADER: Payload(metadata={"encoding": b"binary/plain"}, data=b"\x00")}
    async with make_worker(client):
        workflow_id = f"hostile-{uuid.uuid4().hex[:8]}"
        handle = await waiting_cargo_run(dev_env, settings, workflow_id)
        bob = await signed_signal(handle, settings, "bob")
        await send_raw_signal(
            client,
            workflow_id,
            "approve",
            [json_payload(bob.model_dump(mode="json", exclude_none=True))],
            forged,
        )
        outcome = await asyncio.wait_for(handle.result(), SECONDS)
    assert outcome["decided_by"] == ["bob"]
    assert await without_task_failures(handle)


async def test_a_provide_signal_without_payload_is_refused_as_input(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    """A domain's own input signal (KYC's ``provide_document``) is read the same way."""
    client = dev_env.client
    async with make_worker(client):
        handle = await client.start_workflow(
            "KycReviewWorkflow",
            example("kyc_review", "high_risk"),
            id=f"hostile-kyc-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.task_queue,
        )
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")

        await send_raw_signal(client, handle.id, "provide_document", [])

        trail = await refusals(handle, 1)
        [event] = trail.of_kind("input_refused")
        assert "malformed 'provide_document' signal ignored: expected one payload" in event.summary
        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        await handle.signal("approve", await signed_signal(handle, settings, "bob"))
        outcome = await asyncio.wait_for(handle.result(), SECONDS)
    assert outcome["action"] == "approved"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([], "malformed decision: expected one payload, got 0"),
        (
            [{"verdict": "approve", "reviewer": "alice"}] * 2,
            "malformed decision: expected one payload, got 2",
        ),
        ([b'{"verdict": "approve", "reviewer": "alice"}'], "encoding 'binary/plain' is not JSON"),
        ([None], "encoding 'binary/null' is not JSON"),
    ],
    ids=["no payload", "two payloads", "binary/plain", "binary/null"],
)
async def test_a_hostile_decide_update_is_refused_to_the_caller_and_nothing_is_applied(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    args: list[Any],
    reason: str,
) -> None:
    client = dev_env.client
    async with make_worker(client):
        workflow_id = f"hostile-{uuid.uuid4().hex[:8]}"
        handle = await waiting_cargo_run(dev_env, settings, workflow_id)
        before = await handle.query("audit", result_type=AuditTrail)

        with pytest.raises(WorkflowUpdateFailedError) as refused_update:
            await handle.execute_update("decide", args=args)

        assert reason in str(refused_update.value.cause)
        assert await handle.query("audit", result_type=AuditTrail) == before
        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        outcome = await asyncio.wait_for(handle.result(), SECONDS)
    assert outcome["action"] == "released"


async def test_an_unknown_update_is_refused_by_name(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await waiting_cargo_run(dev_env, settings, f"hostile-{uuid.uuid4().hex[:8]}")
        with pytest.raises(WorkflowUpdateFailedError) as refused_update:
            await handle.execute_update("approve", {"reviewer": "alice"})
        assert "this run takes no update 'approve'; send 'decide'" in str(
            refused_update.value.cause
        )
        status = await handle.query("status", result_type=RunStatus)
    assert status.pending_decision is not None and status.decision is None


# --- a flood of junk ---------------------------------------------------------------------


async def test_a_flood_of_junk_is_counted_not_recorded_and_status_says_so(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    client = dev_env.client
    flood = REFUSALS_RECORDED + 15
    async with make_worker(client):
        workflow_id = f"hostile-flood-{uuid.uuid4().hex[:8]}"
        handle = await waiting_cargo_run(dev_env, settings, workflow_id)
        for _ in range(flood):
            await send_raw_signal(client, workflow_id, "approve", [])

        status = await status_until(
            handle, lambda s: s.refused_messages == flood, what="every refusal counted"
        )
        trail = await handle.query("audit", result_type=AuditTrail)
        shown = await starter(dev_env, settings, "status", workflow_id)

        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        outcome = await asyncio.wait_for(handle.result(), SECONDS)
    assert status.flooded and status.pending_decision is not None
    assert len(refused(trail)) == REFUSALS_RECORDED
    [flooded] = trail.of_kind("flooded")
    assert "being flooded" in flooded.summary
    assert shown.returncode == 0, shown.stderr
    assert f"flooded: {flood} messages refused" in shown.stdout
    assert outcome["action"] == "released"


# --- runs started with input that does not validate ------------------------------------------


async def failure_of(handle: WorkflowHandle[Any, Any]) -> ApplicationError:
    """The run's failure, which must come at once (no failing workflow task retried)."""
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), SECONDS)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert cause.type == "InvalidInput" and cause.non_retryable
    assert await without_task_failures(handle)
    return cause


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        (['{"shipment_id": 42}'], "input refused: shipment_id: Input should be a valid string"),
        (["[1, 2]"], "input refused: (payload): Input should be an object"),
        ([], "input refused: expected 1 input(s) (Shipment), got 0 payload(s)"),
        (['{"a": 1}', '{"b": 2}'], "got 2 payload(s)"),
    ],
    ids=["schema failure", "not an object", "no input", "two inputs"],
)
async def test_a_raw_start_whose_input_does_not_validate_fails_at_once(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    inputs: list[str],
    reason: str,
) -> None:
    workflow_id = f"hostile-start-{uuid.uuid4().hex[:8]}"
    async with make_worker(dev_env.client):
        started = await temporal(
            dev_env,
            "workflow",
            "start",
            "--type",
            "CargoReleaseWorkflow",
            "--task-queue",
            settings.temporal.task_queue,
            "--workflow-id",
            workflow_id,
            *[arg for value in inputs for arg in ("--input", value)],
        )
        assert started.returncode == 0, started.stderr
        cause = await failure_of(dev_env.client.get_workflow_handle(workflow_id))
    assert reason in cause.message


async def test_a_start_with_binary_input_fails_at_once(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await dev_env.client.start_workflow(
            "CargoReleaseWorkflow",
            json.dumps(example("cargo_release", "clean")).encode(),
            id=f"hostile-start-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.task_queue,
        )
        cause = await failure_of(handle)
    assert "shipment: expected a Shipment object" in cause.message


async def test_a_start_with_forged_encryption_fails_at_once(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    codec: EncryptionCodec,
    make_worker: Callable[..., Any],
) -> None:
    client = dev_env.client
    workflow_id = f"hostile-start-{uuid.uuid4().hex[:8]}"
    async with make_worker(client):
        await client.workflow_service.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_id=workflow_id,
                workflow_type=WorkflowType(name="CargoReleaseWorkflow"),
                task_queue=TaskQueue(name=settings.temporal.task_queue),
                input=Payloads(payloads=[sealed(codec.ring.current.encode(), b"\x00" * 40)]),
                identity="hostile-test",
                request_id=str(uuid.uuid4()),
            )
        )
        cause = await failure_of(client.get_workflow_handle(workflow_id))
    assert "input refused: a payload sealed with key id" in cause.message
    assert "failed authentication" in cause.message


async def test_a_run_hit_by_hostile_signals_still_times_out_on_its_deadline(
    time_env: WorkflowEnvironment,
    settings: Settings,
    codec: EncryptionCodec,
    make_worker: Callable[..., Any],
) -> None:
    client = time_env.client
    cases = hostile_signals(codec)
    async with make_worker(client):
        handle = await client.start_workflow(
            "CargoReleaseWorkflow",
            example("cargo_release", "anomaly"),
            id=f"hostile-timeout-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.task_queue,
        )
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
        sent = ["no payload", "binary/plain", "short nonce", "unknown key id", "unknown signal"]
        for case in sent:
            name, payloads, _ = cases[case]
            await send_raw_signal(client, handle.id, name, payloads)
        await refusals(handle, len(sent))

        outcome = await asyncio.wait_for(handle.result(), 60)
        trail = await handle.query("audit", result_type=AuditTrail)
    assert outcome["action"] == "held" and outcome["decision"] == "timed_out"
    assert len(refused(trail)) == len(sent)
    assert await without_task_failures(handle)
