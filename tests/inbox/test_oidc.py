"""Signing in through a real OpenID provider process on 127.0.0.1 (``oidc-provider-mock``):
the authorization code flow with PKCE, state and nonce, and the e-mail claim mapped to a
registry reviewer; anyone else is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from sluice.app.inbox import demo_setup, start_inbox
from sluice.config import Settings
from sluice.framework.process import RunStatus
from tests.faults.processes import free_port
from tests.inbox.conftest import RunningInbox, start_example
from tests.support import status_until


@pytest.fixture
def provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # Plain HTTP on 127.0.0.1, for the provider and for Authlib's client in the inbox.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    port = free_port()
    alice = {"sub": "a-1f3e", "email": "alice@example.com", "email_verified": True}
    log = (tmp_path / "provider.log").open("w")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "oidc_provider_mock", "-p", str(port), "-n", "true"),
            *("--user-claims", json.dumps(alice)),
        ],
        env=os.environ | {"AUTHLIB_INSECURE_TRANSPORT": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/.well-known/openid-configuration", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, "no provider"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
async def oidc_inbox(
    client: Client, inbox_settings: Settings, provider: str, make_worker: Callable[..., Any]
) -> AsyncIterator[RunningInbox]:
    port = free_port()
    inbox_settings.inbox.public_url = f"http://127.0.0.1:{port}"
    inbox_settings.inbox.oidc.issuer = provider
    inbox_settings.inbox.oidc.client_id = "sluice-inbox"
    inbox_settings.inbox.oidc.client_secret = "inbox-secret"
    passwords = demo_setup(inbox_settings, ["alice", "bob", "dave"])
    async with make_worker(client):
        running = await start_inbox(inbox_settings, client, port=port)
        try:
            yield RunningInbox(inbox_settings.inbox.public_url, passwords, inbox_settings, client)
        finally:
            await running.stop()


async def authorize(browser: httpx.AsyncClient, subject: str) -> str:
    """Start a sign-in and let the provider authorize ``subject``: the callback URL."""
    started = await browser.get("/oidc/login")
    assert started.status_code == 303
    asked = started.headers["location"]
    assert "code_challenge=" in asked and "nonce=" in asked and "state=" in asked
    async with httpx.AsyncClient() as person:
        answer = await person.post(asked, data={"sub": subject})
    assert answer.status_code == 302, answer.text[:300]
    return str(answer.headers["location"])


async def test_alice_signs_in_through_the_provider_and_her_decision_says_so(
    oidc_inbox: RunningInbox,
) -> None:
    handle = await start_example(
        oidc_inbox, "cargo-release", "anomaly", f"oidc-{uuid.uuid4().hex[:8]}"
    )
    await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    async with httpx.AsyncClient(base_url=oidc_inbox.url) as browser:
        callback = await authorize(browser, "a-1f3e")
        assert callback.startswith(f"{oidc_inbox.url}/oidc/callback?")
        signed_in = await browser.get(callback)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/decisions"
        page = await browser.get(f"/decisions/{handle.id}")
        assert "Signed in as <strong>alice</strong>" in page.text
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        answer = await browser.post(
            f"/decisions/{handle.id}", data={"csrf": token, "verdict": "approve"}
        )
        assert "Accepted: approved" in answer.text
    status: RunStatus = await handle.query("status", result_type=RunStatus)
    assert status.decision is not None
    signature = status.decision.votes[0].signature
    assert signature is not None and signature.reviewer == "alice"
    assert signature.login_method == "oidc"


async def test_someone_the_registry_does_not_know_is_refused(oidc_inbox: RunningInbox) -> None:
    async with httpx.AsyncClient(base_url=oidc_inbox.url) as browser:
        # The provider vouches for mallory (her e-mail is her subject); no reviewer has it.
        refused = await browser.get(await authorize(browser, "mallory@example.com"))
        assert refused.status_code == 403
        assert "mallory@example.com is not a reviewer here" in refused.text
        assert (await browser.get("/decisions")).status_code == 303


async def test_a_forged_state_and_a_replayed_answer_are_refused(oidc_inbox: RunningInbox) -> None:
    async with httpx.AsyncClient(base_url=oidc_inbox.url) as browser:
        callback = await authorize(browser, "a-1f3e")
        forged = await browser.get(callback.replace("state=", "state=x"))
        assert forged.status_code == 403 and "(state)" in forged.text
        # The sign-in it belonged to is used up: the genuine answer no longer works either.
        replayed = await browser.get(callback)
        assert replayed.status_code == 403 and "no sign-in was started" in replayed.text
        assert (await browser.get("/decisions")).status_code == 303


async def test_a_code_issued_to_another_browsers_sign_in_is_refused(
    oidc_inbox: RunningInbox,
) -> None:
    async with (
        httpx.AsyncClient(base_url=oidc_inbox.url) as victim,
        httpx.AsyncClient(base_url=oidc_inbox.url) as attacker,
    ):
        victims_start = await victim.get("/oidc/login")
        state = httpx.URL(victims_start.headers["location"]).params["state"]
        stolen = httpx.URL(await authorize(attacker, "a-1f3e"))
        # The attacker's code under the victim's state: the verifier (PKCE) and the nonce
        # belong to the victim's sign-in, so the code is worth nothing there.
        mixed = stolen.copy_merge_params({"state": state})
        refused = await victim.get(str(mixed))
        assert refused.status_code == 403
        assert "could not be exchanged" in refused.text or "(nonce)" in refused.text
        assert (await victim.get("/decisions")).status_code == 303
