"""A decision request reaches every reviewer who may take it, once, with a link to it: by
e-mail through a real SMTP server on 127.0.0.1 (aiosmtpd), or in the embedded ledger that
the inbox shows. A notice carries the run's subject id and nothing else of the case."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.connectors.reviewer_notices import ReviewerNotices
from sluice.config import Settings
from sluice.framework.process import RunStatus
from sluice.framework.reviewer_notices import DecisionNotice, ReviewerNoticeActivities
from tests.inbox.conftest import RunningInbox, start_example
from tests.support import eventually, status_until


class Relay:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[Relay, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Relay()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


async def test_every_reviewer_gets_one_email_per_request_across_worker_restarts(
    client: Client,
    inbox_settings: Settings,
    make_worker: Callable[..., Any],
    relay: tuple[Relay, int],
) -> None:
    server, port = relay
    inbox_settings.inbox.smtp_host, inbox_settings.inbox.smtp_port = "127.0.0.1", port
    inbox_settings.inbox.public_url = "https://inbox.example.com"
    inbox = RunningInbox("", {}, inbox_settings, client)
    async with make_worker(client):
        handle = await start_example(
            inbox, "cargo-release", "anomaly", f"mail-{uuid.uuid4().hex[:8]}"
        )
        status = await status_until(
            handle, lambda s: s.pending_decision is not None, what="a request"
        )
        await eventually(lambda: _count(server, 2), what="two e-mails")
    pending = status.pending_decision
    assert pending is not None
    # The worker is gone and a new one comes; the notice activity runs again for the same
    # request (as a retry after a crash would): nobody gets a second e-mail.
    async with make_worker(client):
        notice = DecisionNotice(
            workflow_id=handle.id,
            request_id=pending.request_id,
            process="cargo_release",
            kind=pending.request.kind,
            subject="SHP-2026-0419",
            risk=pending.request.risk.value,
            final_deadline=pending.final_deadline,
            reviewers=pending.allowed_reviewers,
        )
        again = await ActivityEnvironment().run(
            ReviewerNoticeActivities(ReviewerNotices(inbox_settings)).notify_reviewers, notice
        )
        assert again.notified == ["alice", "bob"]
        await asyncio.sleep(1)
    assert sorted(to for to, _ in server.messages) == [["alice@example.com"], ["bob@example.com"]]
    for _, message in server.messages:
        body = message.get_payload()
        assert isinstance(body, str)
        assert f"https://inbox.example.com/decisions/{handle.id}" in body
        assert "SHP-2026-0419" in str(message["Subject"])
        # Nothing of the case beyond its id: no party, no port, no document text.
        for personal in ("Northgate", "Costa Verde", "Rotterdam", "logistics@"):
            assert personal not in body and personal not in str(message["Subject"])
    assert len({str(m["Message-ID"]) for _, m in server.messages}) == 2


async def _count(server: Relay, wanted: int) -> bool:
    assert len(server.messages) <= wanted, [to for to, _ in server.messages]
    return len(server.messages) == wanted


async def test_on_the_embedded_default_the_notice_shows_in_the_reviewers_inbox(
    inbox: RunningInbox,
) -> None:
    handle = await start_example(
        inbox, "cargo-release", "anomaly", f"notice-{uuid.uuid4().hex[:8]}"
    )
    await status_until(handle, lambda s: s.pending_decision is not None, what="a request")

    async def shown_to(user: str) -> str:
        async with httpx.AsyncClient(base_url=inbox.url) as browser:
            login = await browser.get("/login")
            csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
            await browser.post(
                "/login", data={"csrf": csrf, "user": user, "password": inbox.passwords[user]}
            )
            return (await browser.get("/decisions")).text

    page = await eventually(
        lambda: _with(shown_to("alice"), f"/decisions/{handle.id}"), what="alice's notice"
    )
    assert "Decision waiting: customs_release for SHP-2026-0419 (risk medium)" in page
    # Dave does not review cargo: he was not told.
    assert f"/decisions/{handle.id}" not in await shown_to("dave")
    status: RunStatus = await handle.query("status", result_type=RunStatus)
    assert status.pending_decision is not None


async def _with(page: Any, needle: str) -> str | None:
    text = await page
    return text if needle in text else None
