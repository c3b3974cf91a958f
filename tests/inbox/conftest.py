"""The inbox under test: a real worker and the real dev server, the inbox served by uvicorn
on a free port of 127.0.0.1, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from sluice import search_attributes as sa
from sluice.app.catalog import BY_COMMAND
from sluice.app.inbox import demo_setup, start_inbox
from sluice.app.inputs import read_input
from sluice.config import Settings
from tests.conftest import EXAMPLES, approval_settings

ROOT = Path(__file__).resolve().parents[2]
# Screenshots of the main pages, kept after the run (git-ignored).
ARTIFACTS = ROOT / "test-artifacts" / "inbox"


@dataclass
class RunningInbox:
    url: str
    passwords: dict[str, str]
    settings: Settings
    client: Client


@pytest.fixture
def inbox_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Who reviews what, as in ``sluice.toml``: dave reviews KYC only; carol is no demo user."""
    intake = tmp_path / "intake"
    shutil.copytree(EXAMPLES / "kyc_review" / "intake", intake)
    settings.documents.intake_dir = intake
    settings.approvals["cargo_release"] = approval_settings(reviewers={"*": ["alice", "bob"]})
    settings.approvals["kyc_review"] = approval_settings(
        reviewers={"kyc_approval": ["alice", "bob", "dave"]}
    )
    settings.approvals["support_triage"] = approval_settings(
        reviewers={"*": ["alice", "bob"], "supervisor_refund_approval": ["alice", "carol"]}
    )
    settings.approvals["invoice_approval"] = approval_settings(
        reviewers={"payment_approval": ["alice", "bob"], "bank_account_change": ["alice"]}
    )
    return settings


@pytest.fixture
async def inbox(
    client: Client, inbox_settings: Settings, make_worker: Callable[..., Any]
) -> AsyncIterator[RunningInbox]:
    passwords = demo_setup(inbox_settings, ["alice", "bob", "carol", "dave"])
    async with make_worker(client):
        running = await start_inbox(inbox_settings, client, port=0)
        try:
            yield RunningInbox(running.url, passwords, inbox_settings, client)
        finally:
            await running.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (scripts/test.sh installs it)"
    async with async_playwright() as playwright:
        # Chromium's sandbox needs user namespaces, which a root CI container may not give.
        arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = await playwright.chromium.launch(executable_path=chromium, args=arguments)
        yield launched
        await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    opened = await browser.new_context()
    yield opened
    await opened.close()


async def sign_in(context: BrowserContext, inbox: RunningInbox, user: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{inbox.url}/login")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(inbox.passwords[user])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/decisions")
    return page


async def start_example(
    inbox: RunningInbox, command: str, example: str, workflow_id: str, **changes: Any
) -> WorkflowHandle[Any, Any]:
    """A run of an example input, started as ``starter.py start`` starts it."""
    process = BY_COMMAND[command]
    payload = read_input(process, EXAMPLES / command.replace("-", "_") / f"{example}.json")
    if changes:
        payload = payload.model_copy(update=changes)
    return await inbox.client.start_workflow(
        process.workflow_type,
        payload,
        id=workflow_id,
        task_queue=inbox.settings.temporal.task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.DOMAIN, process.domain)]),
    )


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
