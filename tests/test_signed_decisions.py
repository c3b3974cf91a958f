"""Signed decisions against the real dev server: a decision counts only when signed by a key
the reviewer registry trusts for that reviewer, for this run and this request, with exactly
the content that was signed. Every refusal is in the audit trail with the run still waiting;
then a properly signed decision still goes through."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sluice.app.plugin import workflow_runner
from sluice.config import Settings
from sluice.framework.approval import ApproveSignal, DecisionReceipt, RejectSignal
from sluice.framework.audit import AuditTrail
from sluice.framework.policy import ApprovalPolicyActivities
from sluice.framework.process import RunStatus
from sluice.reviewers import (
    AttestingService,
    load_registry,
    new_key_pair,
    public_half,
    read_private_key,
    register_key,
    sample_key_file,
    save_registry,
)
from sluice.signing import Signer, decision_token, own_signer, service_signer
from tests.conftest import EXAMPLES, approval_settings
from tests.support import (
    ROOT,
    cli_environment,
    signed,
    signed_signal,
    starter,
    status_until,
    temporal,
    waiting_cargo_run,
)
from tests.two_requests import TwoRequestsWorkflow

pytestmark = pytest.mark.asyncio


async def refused_on_record(handle: WorkflowHandle[Any, Any], count: int) -> list[str]:
    """The run's refusals once there are ``count``, checking it still waits, undecided."""
    for _ in range(300):
        trail = await handle.query("audit", result_type=AuditTrail)
        refusals = [e.summary for e in trail.of_kind("decision_refused")]
        if len(refusals) >= count:
            status = await handle.query("status", result_type=RunStatus)
            assert status.pending_decision is not None and status.decision is None
            return refusals
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} refusals on the record, got {refusals}")


async def released(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await asyncio.wait_for(handle.result(), timeout=60)
    return result


def signer_of(settings: Settings, reviewer: str) -> Signer:
    return own_signer(settings, reviewer)


async def request_id(handle: WorkflowHandle[Any, Any]) -> str:
    status = await status_until(handle, lambda s: s.pending_decision is not None, what="a request")
    assert status.pending_decision is not None
    return status.pending_decision.request_id


async def cargo_run(dev_env: WorkflowEnvironment, settings: Settings) -> WorkflowHandle[Any, Any]:
    return await waiting_cargo_run(dev_env, settings, f"signed-{uuid.uuid4().hex[:8]}")


# --- refused --------------------------------------------------------------------------------


async def test_unsigned_decision_is_refused_with_how_to_sign(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        await handle.signal("approve", {"reviewer": "alice", "comment": "looks fine"})
        (refusal,) = await refused_on_record(handle, 1)
        assert "unsigned decision" in refusal and "starter.py sign approve" in refusal
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                "decide", {"verdict": "approve", "reviewer": "alice"}, result_type=DecisionReceipt
            )
        assert "unsigned decision" in str(refused.value.cause)

        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        assert (await released(handle))["action"] == "released"


async def test_decision_signed_with_another_reviewers_key_is_refused(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        request = await request_id(handle)
        bob = signer_of(settings, "bob")
        alice = signer_of(settings, "alice")
        # Bob signs as alice; then bob's key under alice's key id.
        forged_kid = Signer(key=bob.key, kid=alice.kid, issuer="alice")
        for signer in (Signer(key=bob.key, kid=bob.kid, issuer="alice"), forged_kid):
            token = decision_token(
                signer,
                reviewer="alice",
                workflow_id=handle.id,
                request_id=request,
                verdict="approve",
            )
            await handle.signal("approve", ApproveSignal(reviewer="alice", token=token))
        first, second = await refused_on_record(handle, 2)
        assert f"key {bob.kid} is not among alice's own keys" in first
        assert "the signature does not match key" in second

        await handle.signal("approve", await signed_signal(handle, settings, "bob"))
        assert (await released(handle))["action"] == "released"
        trail = await handle.query("audit", result_type=AuditTrail)
    (decision,) = trail.of_kind("decision")
    assert decision.actor == "bob"
    assert decision.detail["signature"]["key_id"] == bob.kid


def _tampered_token(token: str) -> str:
    """The same token with its comment changed in the signed part, signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["comment"] = "changed in transit"
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{changed}.{signature}"


CHANGES_AFTER_SIGNING = [
    ("comment", lambda p: p | {"comment": "changed"}, "comment differ(s)"),
    ("amount", lambda p: p | {"amount": "10.00"}, "amount differ(s)"),
    ("final text", lambda p: p | {"final_text": "release it"}, "final text differ(s)"),
    ("signed claims", lambda p: p | {"token": _tampered_token(p["token"])}, "does not match"),
]


@pytest.mark.parametrize(("what", "change", "reason"), CHANGES_AFTER_SIGNING)
async def test_content_changed_after_signing_is_refused(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    what: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
    reason: str,
) -> None:
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        payload = (await signed_signal(handle, settings, "alice", comment="ok")).model_dump(
            mode="json", exclude_none=True
        )
        await handle.signal("approve", change(payload))
        (refusal,) = await refused_on_record(handle, 1)
        assert reason in refusal, what
        await handle.signal("approve", payload)  # the untouched original still counts
        assert (await released(handle))["action"] == "released"


async def test_approval_token_sent_as_a_rejection_is_refused(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        approval = await signed_signal(handle, settings, "alice")
        await handle.signal(
            "reject", RejectSignal(reviewer="alice", reason="hold it", token=approval.token)
        )
        (refusal,) = await refused_on_record(handle, 1)
        assert "verdict, reason differ(s) from what alice signed" in refusal
        status = await handle.query("status", result_type=RunStatus)
        assert status.decision is None


async def test_token_for_one_run_is_refused_on_another(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        run_a = await cargo_run(dev_env, settings)
        run_b = await cargo_run(dev_env, settings)
        for_a = await signed_signal(run_a, settings, "alice")
        await run_b.signal("approve", for_a)
        (refusal,) = await refused_on_record(run_b, 1)
        assert f"signed for run '{run_a.id}', not this one" in refusal
        await run_a.signal("approve", for_a)
        assert (await released(run_a))["action"] == "released"


async def test_token_for_the_first_request_is_refused_on_the_second(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    queue = f"two-requests-{uuid.uuid4().hex[:8]}"
    policies = ApprovalPolicyActivities(settings)
    async with Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[TwoRequestsWorkflow],
        activities=[policies.load_approval_policy],
        workflow_runner=workflow_runner(),
    ):
        handle = await dev_env.client.start_workflow(
            TwoRequestsWorkflow.run,
            "ops-portal",
            id=f"two-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        first_request = await request_id(handle)
        first = await signed_signal(handle, settings, "alice")
        await handle.signal("approve", first)
        second_request = await status_until(
            handle,
            lambda s: (
                s.pending_decision is not None and s.pending_decision.request_id != first_request
            ),
            what="the second request",
        )
        assert second_request.pending_decision is not None
        await handle.signal("approve", first)  # replayed on the second request
        (refusal,) = await refused_on_record(handle, 1)
        assert f"answers request {first_request}, not the pending request" in refusal
        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        assert await asyncio.wait_for(handle.result(), timeout=60) == ["approved", "approved"]


async def test_expired_or_long_lived_token_is_refused(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        token = decision_token(
            signer_of(settings, "alice"),
            reviewer="alice",
            workflow_id=handle.id,
            request_id=await request_id(handle),
            verdict="approve",
            lifetime=timedelta(minutes=15),
            now=datetime.now(UTC) - timedelta(minutes=16),
        )
        standing = decision_token(
            signer_of(settings, "alice"),
            reviewer="alice",
            workflow_id=handle.id,
            request_id=await request_id(handle),
            verdict="approve",
            lifetime=timedelta(days=8),
        )
        for stale in (token, standing):
            await handle.signal("approve", ApproveSignal(reviewer="alice", token=stale))
        expired, too_long = await refused_on_record(handle, 2)
        assert "the token expired at" in expired
        assert "valid for longer than 7 days" in too_long


async def test_key_revoked_by_refresh_policy_is_refused_in_a_waiting_run(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        alice = signer_of(settings, "alice")
        revoked = await starter(
            dev_env, settings, "reviewers", "revoke", "alice", "--key", alice.kid
        )
        assert revoked.returncode == 0, revoked.stderr
        refreshed = await starter(dev_env, settings, "refresh-policy")
        assert refreshed.returncode == 0, refreshed.stderr

        async def registry_reloaded() -> bool:
            trail = await handle.query("audit", result_type=AuditTrail)
            return len(trail.of_kind("policy")) >= 2

        for _ in range(100):
            if await registry_reloaded():
                break
            await asyncio.sleep(0.1)
        token = decision_token(
            alice,
            reviewer="alice",
            workflow_id=handle.id,
            request_id=await request_id(handle),
            verdict="approve",
        )
        await handle.signal("approve", ApproveSignal(reviewer="alice", token=token))
        (refusal,) = await refused_on_record(handle, 1)
        assert f"key {alice.kid} is not among alice's own keys (revoked" in refusal
        cli = await starter(dev_env, settings, "approve", handle.id, "--reviewer", "alice")
        assert cli.returncode == 1 and "is not registered for alice: revoked?" in cli.stderr


async def test_requester_under_another_spelling_cannot_approve(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    shipment = json.loads((EXAMPLES / "cargo_release" / "anomaly.json").read_text())
    async with make_worker(dev_env.client):
        handles = []
        # Signed by alice's key (starter.py start), then unsigned (the temporal CLI).
        for spelling, how in (("ALICE", "starter"), (" Alice", "temporal")):
            path = tmp_path / f"{how}.json"
            path.write_text(json.dumps(shipment | {"requested_by": spelling}))
            workflow_id = f"self-approval-{how}-{uuid.uuid4().hex[:6]}"
            if how == "starter":
                started = await starter(
                    dev_env, settings, "start", "cargo-release", str(path), "--id", workflow_id
                )
                assert "start request signed" in started.stdout, started.stderr
            else:
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
                    "--input-file",
                    str(path),
                )
            assert started.returncode == 0, started.stderr
            handles.append(dev_env.client.get_workflow_handle(workflow_id))
        for handle in handles:
            await handle.signal("approve", await signed_signal(handle, settings, "alice"))
            (refusal,) = await refused_on_record(handle, 1)
            assert "reviewer 'alice' started this run and cannot decide it" in refusal
        verified, unverified = [await h.query("audit", result_type=AuditTrail) for h in handles]
    assert verified.requester_verified and not unverified.requester_verified
    assert [e.summary for e in verified.of_kind("requester")] == ["requester alice verified"]
    assert "unverified: start not signed" in unverified.of_kind("requester")[0].summary


async def test_one_persons_two_keys_are_one_reviewer_for_four_eyes(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    from tests.workflows.test_kyc_review import application, passport
    from tests.workflows.test_kyc_review import start as start_kyc

    settings.approvals["kyc_review"] = approval_settings(
        reviewers={"kyc_approval": ["alice", "bob", "dave"]}
    )
    second = tmp_path / "alice-laptop.key"
    registry = load_registry(settings.reviewer_registry_file)
    save_registry(
        settings.reviewer_registry_file, register_key(registry, "alice", new_key_pair(second))
    )
    app = application(identity={"text": passport(born=date(1991, 3, 4))}, requested_by="dave")
    async with make_worker(dev_env.client):
        handle = await start_kyc(dev_env.client, settings, app)
        request = await request_id(handle)
        laptop_key = read_private_key(second)
        laptop = Signer(key=laptop_key, kid=public_half(laptop_key).kid, issuer="alice")  # type: ignore[arg-type]
        first = await signed(handle, settings, "alice")
        receipt = await handle.execute_update("decide", first, result_type=DecisionReceipt)
        assert receipt.message == "approval recorded; 1 more reviewer(s) needed"
        token = decision_token(
            laptop, reviewer="alice", workflow_id=handle.id, request_id=request, verdict="approve"
        )
        await handle.signal("approve", ApproveSignal(reviewer="alice", token=token))
        await handle.signal("approve", as_replayed(first))
        refusals = await refused_on_record(handle, 2)
        assert "reviewer 'alice' has already approved; 2 different reviewers" in refusals[0]
        assert "was already used" in refusals[1]

        bob = await signed(handle, settings, "bob", comment="second pair of eyes")
        receipt = await handle.execute_update("decide", bob, result_type=DecisionReceipt)
        assert receipt.message == "approved"
        assert receipt.decision is not None and receipt.decision.reviewers == ["alice", "bob"]


def as_replayed(decision: Any) -> ApproveSignal:
    return ApproveSignal(reviewer=decision.reviewer, token=decision.token)


# --- accepted ---------------------------------------------------------------------------------


async def test_own_key_through_the_cli_is_accepted_and_verifies_offline(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        approved = await starter(
            dev_env, settings, "approve", handle.id, "--reviewer", "Alice", "--comment", "ok"
        )
        assert approved.returncode == 0, approved.stderr
        assert (await released(handle))["action"] == "released"
        verified = await starter(dev_env, settings, "audit", handle.id, "--verify")
        trail = await handle.query("audit", result_type=AuditTrail)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The policy in the history carries keys and issuers, not reviewers' names or e-mails.
    assert "alice@example.com" not in trail.model_dump_json()
    assert "holds" in verified.stdout and "approve by alice" in verified.stdout
    assert "own key" in verified.stdout and "this machine's copy" in verified.stdout


async def test_cli_without_the_reviewers_key_fails_clearly(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    sample_key_file(settings.data_dir, "carol").unlink()
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        refused = await starter(dev_env, settings, "approve", handle.id, "--reviewer", "carol")
        assert refused.returncode == 1
        assert "no key of carol's on this machine" in refused.stderr
        assert "Traceback" not in refused.stderr
        status = await handle.query("status", result_type=RunStatus)
        assert status.pending_decision is not None


async def test_sign_output_sent_with_the_plain_temporal_cli_is_accepted(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        printed = await starter(
            dev_env, settings, "sign", "approve", handle.id, "--reviewer", "bob", "--comment", "ok"
        )
        assert printed.returncode == 0, printed.stderr
        payload = tmp_path / "approve.json"
        payload.write_text(printed.stdout)
        sent = await temporal(
            dev_env,
            "workflow",
            "signal",
            "--workflow-id",
            handle.id,
            "--name",
            "approve",
            "--input-file",
            str(payload),
        )
        assert sent.returncode == 0, sent.stderr
        assert (await released(handle))["action"] == "released"
        verified = await starter(dev_env, settings, "audit", handle.id, "--verify")
    assert verified.returncode == 0 and "approve by bob" in verified.stdout


async def test_attesting_service_signs_only_for_reviewers_who_trust_it(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    service_key = tmp_path / "inbox.key"
    registry = load_registry(settings.reviewer_registry_file)
    inbox = AttestingService(id="inbox", name="Approval inbox", keys=[new_key_pair(service_key)])
    bob = registry.reviewers["bob"].model_copy(update={"issuers": ["inbox", "self"]})
    save_registry(
        settings.reviewer_registry_file,
        registry.model_copy(
            update={"services": {"inbox": inbox}, "reviewers": {**registry.reviewers, "bob": bob}}
        ),
    )
    signer = service_signer(service_key, "inbox", login_method="webauthn")
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        request = await request_id(handle)
        for reviewer in ("alice", "bob"):
            token = decision_token(
                signer,
                reviewer=reviewer,
                workflow_id=handle.id,
                request_id=request,
                verdict="approve",
            )
            await handle.signal("approve", ApproveSignal(reviewer=reviewer, token=token))
            if reviewer == "alice":
                (refusal,) = await refused_on_record(handle, 1)
                assert "issuer 'inbox' is not trusted to sign for alice" in refusal
        assert (await released(handle))["action"] == "released"
        trail = await handle.query("audit", result_type=AuditTrail)
    (decision,) = trail.of_kind("decision")
    signature = decision.detail["signature"]
    assert (decision.actor, signature["issuer"], signature["login_method"]) == (
        "bob",
        "inbox",
        "webauthn",
    )


# --- keys -------------------------------------------------------------------------------------


async def test_reviewers_command_creates_a_private_key_only_its_owner_reads(
    dev_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    env = cli_environment(dev_env, settings) | {"XDG_CONFIG_HOME": str(tmp_path / "config")}

    def run(*args: str) -> Any:
        import subprocess
        import sys

        return subprocess.run(
            [sys.executable, "-m", "sluice.reviewers", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    added = run("add", "erin", "--name", "Erin Voss", "--email", "erin@example.com")
    assert added.returncode == 0, added.stderr
    key = tmp_path / "config" / "sluice" / "keys" / "erin.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key.parent).st_mode) == 0o700
    (registered,) = load_registry(settings.reviewer_registry_file).reviewers["erin"].keys
    assert registered.kid in added.stdout
    listed = run("list")
    assert "erin  'Erin Voss' <erin@example.com>" in listed.stdout
    assert "decides: cargo_release:*" in listed.stdout.split("alice", 1)[1]
    again = run("add", "erin")  # the key file exists: never overwritten
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = run("add", "Erin Voss")
    assert bad.returncode == 1 and "reviewer id" in bad.stderr
    unknown_service = run("add", "frank", "--issuer", "inbox")
    assert unknown_service.returncode == 1 and "no attesting service named inbox" in (
        unknown_service.stderr
    )
    service_key = tmp_path / "inbox.key"
    service = run(
        "add-service", "inbox", "--name", "Approval inbox", "--key-file", str(service_key)
    )
    assert service.returncode == 0, service.stderr
    assert stat.S_IMODE(os.stat(service_key).st_mode) == 0o600
    trusted = run("add", "frank", "--issuer", "inbox")
    assert trusted.returncode == 0, trusted.stderr
    registry = load_registry(settings.reviewer_registry_file)
    assert registry.reviewers["frank"].issuers == ["inbox", "self"]
    assert len(registry.services["inbox"].keys) == 1
    # A key id is a base64url thumbprint: one in 64 begins with '-'.
    dashed = registered.model_copy(update={"kid": "-" + registered.kid[1:]})
    erin = registry.reviewers["erin"].model_copy(update={"keys": [registered, dashed]})
    save_registry(
        settings.reviewer_registry_file,
        registry.model_copy(update={"reviewers": {**registry.reviewers, "erin": erin}}),
    )
    empty = run("revoke", "erin", "--key=")
    assert empty.returncode == 1 and "give the key id to revoke" in empty.stderr
    one = run("revoke", "erin", "--key", dashed.kid)
    assert one.returncode == 0, one.stderr
    kept = load_registry(settings.reviewer_registry_file).reviewers["erin"].keys
    assert [key.kid for key in kept] == [registered.kid]
    revoked = run("revoke", "erin", "--all")
    assert revoked.returncode == 0
    assert load_registry(settings.reviewer_registry_file).reviewers["erin"].keys == []


async def test_with_signatures_not_required_a_name_is_taken_and_verify_says_it_is_unsigned(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    settings.signatures.require_signed_decisions = False
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        await handle.signal("approve", {"reviewer": "alice"})
        assert (await released(handle))["action"] == "released"
        verified = await starter(dev_env, settings, "audit", handle.id, "--verify")
    assert verified.returncode == 1
    assert "FAILS [alice] not signed (taken by name)" in verified.stdout


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jws(signer: Signer, header: dict[str, Any], payload: bytes) -> str:
    """A token signed properly over whatever header and payload a hostile sender chose."""
    from joserfc import jws

    return jws.serialize_compact(header, payload, signer.key, algorithms=["Ed25519"])


async def test_hostile_tokens_are_refused_on_the_record_and_never_jam_the_run(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    async with make_worker(dev_env.client):
        handle = await cargo_run(dev_env, settings)
        alice = signer_of(settings, "alice")
        header = {"alg": "Ed25519", "typ": "sluice-decision+jws", "kid": alice.kid}
        claims = {
            "iss": "alice", "sub": "alice", "wf": handle.id, "req": await request_id(handle),
            "verdict": "approve", "iat": 0, "exp": 10**30, "jti": "0123456789abcdef",
        }  # fmt: skip
        unsigned_header = _b64(json.dumps(header | {"alg": "none"}).encode())
        cases = [
            ("hello", "not a signed token (a JWS in compact form)"),
            ("a.b.c", "not a signed token:"),
            (f"{unsigned_header}.{_b64(json.dumps(claims).encode())}.", "signed with Ed25519"),
            (_jws(alice, header, b"[1, 2]"), "payload is not a set of claims"),
            (_jws(alice, header, json.dumps(claims).encode()), "claims are not usable (exp)"),
            (_jws(alice, header | {"typ": "sluice-start+jws"}, b"{}"), "is needed, not"),
            ("é" * 40 + ".x.y", "not a signed token:"),
        ]
        for token, _ in cases:
            await handle.signal("approve", ApproveSignal(reviewer="alice", token=token))
        refusals = await refused_on_record(handle, len(cases))
        for refusal, (token, reason) in zip(refusals, cases, strict=True):
            assert reason in refusal, (token, refusal)
        await handle.signal("approve", await signed_signal(handle, settings, "alice"))
        assert (await released(handle))["action"] == "released"
