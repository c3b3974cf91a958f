"""The inbox's defences, over real HTTP against the served app: CSRF, session fixation,
session cookies, rate-limited sign-in, decisions one may not take, and hostile forms. Every
refusal is clear, logged where it matters, and leaves the run waiting as it was."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowHandle

from sluice.app.inbox import build_inbox, demo_setup
from sluice.app.inbox.accounts import FAILURES_ALLOWED
from sluice.app.inbox.app import create_app
from sluice.app.inbox.web import COOKIE, MAX_BODY_BYTES
from sluice.config import Settings
from sluice.devserver import start_dev_server
from sluice.framework.audit import AuditTrail
from sluice.framework.process import RunStatus
from tests.inbox.conftest import RunningInbox, start_example
from tests.support import eventually, status_until


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:400]
    return found.group(1)


@asynccontextmanager
async def signed_in(inbox: RunningInbox, user: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=inbox.url, timeout=30) as browser:
        login = await browser.get("/login")
        answer = await browser.post(
            "/login",
            data={"csrf": csrf_of(login), "user": user, "password": inbox.passwords[user]},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/decisions"
        yield browser


async def waiting_run(inbox: RunningInbox, command: str, example: str) -> WorkflowHandle[Any, Any]:
    handle = await start_example(inbox, command, example, f"inbox-sec-{uuid.uuid4().hex[:8]}")
    await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    return handle


async def still_waiting(handle: WorkflowHandle[Any, Any]) -> RunStatus:
    status: RunStatus = await handle.query("status", result_type=RunStatus)
    assert status.pending_decision is not None and status.decision is None
    assert status.pending_decision.approvals == []
    return status


async def test_a_decision_without_a_valid_csrf_token_is_refused_and_changes_nothing(
    inbox: RunningInbox, caplog: pytest.LogCaptureFixture
) -> None:
    handle = await waiting_run(inbox, "cargo-release", "anomaly")
    async with signed_in(inbox, "alice") as alice:
        with caplog.at_level(logging.WARNING, logger="sluice.inbox"):
            for token in (None, "forged", ""):
                data = {"verdict": "approve"} | ({"csrf": token} if token is not None else {})
                answer = await alice.post(f"/decisions/{handle.id}", data=data)
                assert answer.status_code == 403
                assert "This form has expired" in answer.text
        assert "alice sent a form without a valid CSRF token" in caplog.text
    await still_waiting(handle)


async def test_signing_in_starts_a_new_session_and_the_old_id_is_dead(
    inbox: RunningInbox, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(base_url=inbox.url) as browser:
        login = await browser.get("/login")
        planted = browser.cookies[COOKIE]
        with caplog.at_level(logging.INFO, logger="sluice.inbox"):
            answer = await browser.post(
                "/login",
                data={
                    "csrf": csrf_of(login),
                    "user": "alice",
                    "password": inbox.passwords["alice"],
                },
            )
        assert answer.status_code == 303
        assert browser.cookies[COOKIE] != planted
        assert (await browser.get("/decisions")).status_code == 200
        assert "alice signed in (pwd)" in caplog.text
    # Whoever planted the first id (session fixation) holds a dead session.
    async with httpx.AsyncClient(base_url=inbox.url, cookies={COOKIE: planted}) as attacker:
        answer = await attacker.get("/decisions")
        assert answer.status_code == 303 and answer.headers["location"] == "/login"


async def test_the_session_cookie_is_httponly_samesite_and_secure_under_tls(
    inbox: RunningInbox,
) -> None:
    async with httpx.AsyncClient(base_url=inbox.url) as browser:
        cookie = (await browser.get("/login")).headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    # Behind TLS (the request's scheme is https) the same cookie is Secure.
    app = create_app(build_inbox(inbox.settings, inbox.client))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://inbox.test") as tls:
        answer = await tls.get("/login")
    assert "Secure" in answer.headers["set-cookie"]
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


async def test_sign_out_ends_the_session_on_the_server(inbox: RunningInbox) -> None:
    async with signed_in(inbox, "alice") as alice:
        kept = alice.cookies[COOKIE]
        page = await alice.get("/decisions")
        assert (await alice.post("/logout", data={"csrf": csrf_of(page)})).status_code == 303
    async with httpx.AsyncClient(base_url=inbox.url, cookies={COOKIE: kept}) as replay:
        assert (await replay.get("/decisions")).status_code == 303


async def test_repeated_failed_sign_ins_lock_the_account_for_a_while(
    inbox: RunningInbox, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(base_url=inbox.url) as browser:
        with caplog.at_level(logging.WARNING, logger="sluice.inbox"):
            for _ in range(FAILURES_ALLOWED):
                login = await browser.get("/login")
                answer = await browser.post(
                    "/login", data={"csrf": csrf_of(login), "user": "bob", "password": "guess"}
                )
                assert answer.status_code == 401 and "Wrong user name or password" in answer.text
            login = await browser.get("/login")
            answer = await browser.post(
                "/login",
                data={"csrf": csrf_of(login), "user": "bob", "password": inbox.passwords["bob"]},
            )
    assert answer.status_code == 401 and "Too many failed sign-ins" in answer.text
    assert "failed sign-in for 'bob'" in caplog.text
    # Bob's lock is his: alice, from the same address (one office, one proxy), still gets in.
    async with signed_in(inbox, "alice") as alice:
        assert (await alice.get("/decisions")).status_code == 200
    assert inbox.passwords["bob"] not in caplog.text


async def test_a_decision_the_user_may_not_take_is_refused_logged_and_changes_nothing(
    inbox: RunningInbox, caplog: pytest.LogCaptureFixture
) -> None:
    # Refunds above the threshold are for supervisors (alice, carol); bob is an agent.
    refund = await waiting_run(inbox, "support-triage", "refund_large")
    cargo = await waiting_run(inbox, "cargo-release", "anomaly")
    async with signed_in(inbox, "bob") as bob, signed_in(inbox, "dave") as dave:
        with caplog.at_level(logging.WARNING, logger="sluice.inbox"):
            page = await bob.get(f"/decisions/{refund.id}")
            assert "You may not decide this request" in page.text
            answer = await bob.post(
                f"/decisions/{refund.id}", data={"csrf": csrf_of(page), "verdict": "approve"}
            )
            assert answer.status_code == 422
            assert "you may not decide &#39;supervisor_refund_approval&#39;" in answer.text
            # Dave reviews KYC only: a cargo run is not found for him at all.
            page = await dave.get("/decisions")
            answer = await dave.post(
                f"/decisions/{cargo.id}", data={"csrf": csrf_of(page), "verdict": "approve"}
            )
            assert answer.status_code == 404 and "SHP-2026" not in answer.text
    assert f"bob refused a decision they may not take: {refund.id}" in caplog.text
    assert f"dave refused a run outside their processes: {cargo.id}" in caplog.text
    await still_waiting(refund)
    await still_waiting(cargo)


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"comment": "x" * 4001}, "comment: at most 4000 characters (4001 given)"),
        ({"comment": "fine\x1b[2Jcleared"}, "comment: control character U+001B is not taken"),
        ({"comment": "ok \u202ereversed"}, "comment: control character U+202E is not taken"),
        ({"reviewer": "bob"}, "unexpected fields: reviewer"),
        ({"verdict": "maybe"}, "choose approve or reject"),
        ({"verdict": "reject", "reason": "   "}, "reason: required"),
        ({"amount": "1e400"}, "amount: a positive amount with at most two decimals"),
        ({"amount": "0.00"}, "amount: a positive amount with at most two decimals"),
    ],
)
async def test_hostile_decision_forms_are_refused_cleanly(
    inbox: RunningInbox, fields: dict[str, str], refusal: str
) -> None:
    handle = await waiting_run(inbox, "cargo-release", "anomaly")
    async with signed_in(inbox, "alice") as alice:
        page = await alice.get(f"/decisions/{handle.id}")
        data = {"csrf": csrf_of(page), "verdict": "approve", **fields}
        answer = await alice.post(f"/decisions/{handle.id}", data=data)
    assert answer.status_code == 422
    assert f"Refused: {refusal}" in answer.text.replace("&#39;", "'")
    assert "Traceback" not in answer.text
    await still_waiting(handle)


async def test_an_oversized_request_is_refused_before_it_is_read(inbox: RunningInbox) -> None:
    async with signed_in(inbox, "alice") as alice:
        page = await alice.get("/start/kyc-review")
        answer = await alice.post(
            "/start/kyc-review",
            data={"csrf": csrf_of(page)},
            files={"documents.identity_document": ("big.txt", b"x" * (MAX_BODY_BYTES + 1))},
        )
    assert answer.status_code == 413


async def test_a_start_form_cannot_name_another_requester(inbox: RunningInbox) -> None:
    async with signed_in(inbox, "alice") as alice:
        page = await alice.get("/start/kyc-review")
        answer = await alice.post(
            "/start/kyc-review",
            data={
                "csrf": csrf_of(page),
                "application_id": f"KYC-FORGED-{uuid.uuid4().hex[:6]}",
                "applicant.full_name": "Amelie Durand",
                "applicant.date_of_birth": "1988-04-12",
                "applicant.nationality": "FR",
                "applicant.address": "14 Rue des Lilas, 69003 Lyon, France",
                "requested_by": "bob",
            },
        )
    assert answer.status_code == 303
    handle = inbox.client.get_workflow_handle(answer.headers["location"].rsplit("/", 1)[-1])

    async def requester_recorded() -> AuditTrail | None:
        trail: AuditTrail = await handle.query("audit", result_type=AuditTrail)
        return trail if trail.of_kind("requester") else None

    trail = await eventually(requester_recorded, what="the requester on record")
    assert trail.started_by == "alice"
    assert [e.summary for e in trail.of_kind("requester")] == ["requester alice verified"]


async def test_when_temporal_is_gone_pages_say_so_without_a_traceback(
    inbox_settings: Settings,
) -> None:
    server = await start_dev_server(database_file=None, port=None, ui=False)
    passwords = demo_setup(inbox_settings, ["alice"])
    app = create_app(build_inbox(inbox_settings, server.client))
    await server.shutdown()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inbox.test") as browser:
        login = await browser.get("/login")
        await browser.post(
            "/login",
            data={"csrf": csrf_of(login), "user": "alice", "password": passwords["alice"]},
        )
        for path in ("/decisions", "/runs", "/runs/some-run"):
            answer = await browser.get(path)
            assert answer.status_code == 503, path
            assert "does not answer just now" in answer.text
            assert "Traceback" not in answer.text
