"""The inbox in a real browser (Debian's chromium through Playwright): what a reviewer sees
and does, against a real worker and the real dev server."""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from sluice.framework.process import RunStatus
from tests.inbox.conftest import RunningInbox, screenshot, sign_in, start_example
from tests.support import status_until


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_alice_approves_a_waiting_cargo_release_and_watches_it_complete(
    inbox: RunningInbox, context: BrowserContext
) -> None:
    page = await sign_in(context, inbox, "alice")
    await expect(page.locator("main")).to_contain_text("Nothing is waiting for you.")
    handle = await start_example(inbox, "cargo-release", "anomaly", unique("inbox-cargo"))

    # The list updates by itself (htmx polling, under the strict CSP): no reload here.
    row = page.get_by_role("row").filter(has_text="SHP-2026-0419")
    await expect(row).to_have_count(1, timeout=20_000)
    await expect(row).to_contain_text("Release shipment SHP-2026-0419 to the consignee?")
    await expect(row).to_contain_text("medium")
    await expect(row).to_contain_text("0 of 1")
    # The notice of the request shows too, with its link.
    await expect(page.locator(".notices")).to_contain_text(
        "Decision waiting: customs_release for SHP-2026-0419", timeout=10_000
    )
    await screenshot(page, "my-decisions")
    await page.goto(f"{inbox.url}/decisions/{handle.id}")

    # The evidence, the documents decrypted server-side, the rule hits with their ruleset.
    await expect(page.locator(".evidence")).to_contain_text("gross weights differ by 10.0%")
    await expect(page.locator(".document").first).to_contain_text("BILL OF LADING BL-SAN-44102")
    await expect(page.locator(".audit")).to_contain_text("ruleset cargo-crosscheck/")
    await screenshot(page, "decision")

    await page.get_by_role("radio", name="Approve").check()
    await page.get_by_label("Comment (with an approval)").fill("short shipment confirmed")
    await page.get_by_role("button", name="Send decision").click()
    await expect(page.locator("#answer")).to_have_text("Accepted: approved")

    await page.get_by_role("link", name="Run page").click()
    await expect(page.locator("#run-state")).to_have_text("completed", timeout=30_000)
    await expect(page.locator(".audit")).to_contain_text("short shipment confirmed")
    await expect(page.locator(".audit")).to_contain_text("issuer inbox (pwd)")
    await page.reload()
    await expect(page.locator(".trace")).to_contain_text("Release cargo")
    await screenshot(page, "run")
    status: RunStatus = await handle.query("status", result_type=RunStatus)
    assert status.decision is not None and status.decision.reviewers == ["alice"]
    vote = status.decision.votes[0]
    assert vote.signature is not None and vote.signature.issuer == "inbox"
    assert vote.signature.login_method == "pwd"


async def test_four_eyes_kyc_takes_two_people_in_two_browsers(
    inbox: RunningInbox, browser: Browser
) -> None:
    handle = await start_example(inbox, "kyc-review", "high_risk", unique("inbox-kyc"))
    await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    alice_context, bob_context = await browser.new_context(), await browser.new_context()
    try:
        alice = await sign_in(alice_context, inbox, "alice")
        bob = await sign_in(bob_context, inbox, "bob")
        await alice.goto(f"{inbox.url}/decisions/{handle.id}")
        await expect(alice.locator("#deadlines")).to_contain_text("0 of 2")
        await alice.get_by_role("radio", name="Approve").check()
        await alice.get_by_role("button", name="Send decision").click()
        await expect(alice.locator("#answer")).to_contain_text("1 more reviewer(s) needed")
        await expect(alice.locator("main")).to_contain_text("You have approved")

        # Alice's list no longer offers it; Bob's does, with one approval of two.
        await alice.goto(f"{inbox.url}/decisions")
        await expect(alice.get_by_role("link", name="Approve KYC application")).to_have_count(0)
        await bob.reload()
        row = bob.get_by_role("row").filter(has_text="KYC-2026-11-0419")
        await expect(row).to_contain_text("1 of 2", timeout=10_000)
        await bob.goto(f"{inbox.url}/decisions/{handle.id}")
        await bob.get_by_role("radio", name="Approve").check()
        await bob.get_by_role("button", name="Send decision").click()
        await expect(bob.locator("#answer")).to_have_text("Accepted: approved")
    finally:
        await alice_context.close()
        await bob_context.close()
    status = await status_until(handle, lambda s: s.decision is not None, what="the decision")
    assert status.decision is not None and status.decision.reviewers == ["alice", "bob"]


async def test_a_reviewer_sees_nothing_of_a_process_they_do_not_review(
    inbox: RunningInbox, context: BrowserContext, caplog: pytest.LogCaptureFixture
) -> None:
    cargo = await start_example(inbox, "cargo-release", "anomaly", unique("inbox-hidden"))
    kyc = await start_example(inbox, "kyc-review", "expired_passport", unique("inbox-dave"))
    for handle in (cargo, kyc):
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    page = await sign_in(context, inbox, "dave")

    await expect(page.get_by_role("row").filter(has_text="KYC-")).not_to_have_count(0)
    await expect(page.locator("main")).not_to_contain_text("SHP-2026")
    await expect(page.get_by_role("option", name="Cargo release")).to_have_count(0)
    with caplog.at_level(logging.WARNING, logger="sluice.inbox"):
        for path in (f"/decisions/{cargo.id}", f"/runs/{cargo.id}", "/start/cargo-release"):
            answer = await page.goto(f"{inbox.url}{path}")
            assert answer is not None and answer.status == 404, path
            await expect(page.locator("main")).not_to_contain_text("SHP-2026")
    assert f"dave refused a run outside their processes: {cargo.id}" in caplog.text
    await page.goto(f"{inbox.url}/runs")
    await expect(page.locator("main")).to_contain_text(kyc.id)
    await expect(page.locator("main")).not_to_contain_text(cargo.id)


async def test_alice_starts_a_kyc_review_by_uploading_documents(
    inbox: RunningInbox, context: BrowserContext
) -> None:
    page = await sign_in(context, inbox, "alice")
    await page.goto(f"{inbox.url}/start/kyc-review")
    application = unique("KYC-UP").upper()
    await page.get_by_label("Application id").fill(application)
    await page.get_by_label("Full name").fill("Amelie Durand")
    await page.get_by_label("Date of birth").fill("1988-04-12")
    await page.get_by_label("Nationality").fill("FR")
    await page.get_by_label("Address (required)").fill("14 Rue des Lilas, 69003 Lyon, France")
    intake = inbox.settings.documents.intake_dir
    await page.get_by_label("Identity document").set_input_files(
        str(intake / "amelie_durand_passport.txt")
    )
    await page.get_by_label("Proof of address").set_input_files(
        str(intake / "amelie_durand_electricity_bill.txt")
    )
    await screenshot(page, "start")
    await page.get_by_role("button", name="Start").click()
    await page.wait_for_url(f"**/runs/kyc-review-{application}-*")
    await expect(page.locator("h1")).to_contain_text(application)
    workflow_id = page.url.rsplit("/", 1)[-1]
    handle = inbox.client.get_workflow_handle(workflow_id)
    status = await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    assert status.subject == application
    await page.reload()
    # Alice is the run's verified requester (the inbox signed her start request), so she
    # may not decide it herself; the run read both uploads from the intake folder.
    await expect(page.locator(".audit")).to_contain_text("requester alice verified")
    await expect(page.locator(".audit")).to_contain_text("read the proof of address")
    await page.goto(f"{inbox.url}/decisions")
    await expect(page.locator("main")).not_to_contain_text(application)
    # The uploaded documents open from the run page, read back through the intake rules.
    document = await page.request.get(f"{inbox.url}/runs/{workflow_id}/documents/0")
    assert document.status == 200 and "DURAND" in (await document.text()).upper()
    assert "sandbox" in document.headers["content-security-policy"]
    missing = await page.request.get(f"{inbox.url}/runs/{workflow_id}/documents/7")
    assert missing.status == 404
    uploaded = list((intake / "inbox" / "alice").iterdir())
    assert len(uploaded) == 2 and all(p.stat().st_mode & 0o077 == 0 for p in uploaded)


async def test_a_bad_start_form_is_refused_with_the_clis_words(
    inbox: RunningInbox, context: BrowserContext
) -> None:
    page = await sign_in(context, inbox, "alice")
    await page.goto(f"{inbox.url}/start/kyc-review")
    await page.get_by_label("Application id").fill("no spaces allowed")
    await page.get_by_role("button", name="Start").click()
    answer = page.locator("#answer")
    await expect(answer).to_contain_text("the form: not a valid kyc-review input: application_id")
    await expect(answer).to_contain_text("applicant: Field required")


async def test_a_ticket_holding_script_and_html_shows_as_text_and_runs_nothing(
    inbox: RunningInbox, context: BrowserContext
) -> None:
    hostile = (
        '<script>window.pwned = "script"</script>'
        '<img src="x" onerror="window.pwned = \'img\'"><b id="injected">bold</b>'
        " Please refund my order."
    )
    handle = await start_example(
        inbox, "support-triage", "refund", unique("inbox-xss"), body=hostile
    )
    await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    page = await sign_in(context, inbox, "alice")
    await page.goto(f"{inbox.url}/decisions/{handle.id}")
    await expect(page.locator(".request")).to_contain_text(
        '<script>window.pwned = "script"</script>'
    )
    await expect(page.locator(".request")).to_contain_text('<b id="injected">bold</b>')
    assert await page.locator("#injected").count() == 0
    assert await page.evaluate("typeof window.pwned") == "undefined"
    await page.goto(f"{inbox.url}/runs/{handle.id}")
    assert await page.locator("#injected").count() == 0
    assert await page.evaluate("typeof window.pwned") == "undefined"


async def test_a_missing_document_is_provided_from_the_run_page(
    inbox: RunningInbox, context: BrowserContext
) -> None:
    handle = await start_example(
        inbox, "kyc-review", "missing_proof_of_address", unique("inbox-provide")
    )
    await status_until(handle, lambda s: s.awaiting_input is not None, what="a missing document")
    page = await sign_in(context, inbox, "alice")
    await page.goto(f"{inbox.url}/runs/{handle.id}")
    await expect(page.locator("#provide")).to_be_visible()
    await page.get_by_label("Document").select_option("proof_of_address")
    bill = inbox.settings.documents.intake_dir / "sofia_lindqvist_bank_statement.txt"
    await page.get_by_label("File").set_input_files(str(bill))
    await page.get_by_role("button", name="Send").click()
    await page.wait_for_url(f"**/runs/{handle.id}")
    await status_until(
        handle, lambda s: s.pending_decision is not None, what="the review after the document"
    )
    await page.reload()
    await expect(page.locator(".audit")).to_contain_text("proof_of_address")
    await expect(page.locator(".audit")).to_contain_text("alice")


async def test_the_pages_work_from_the_keyboard_in_a_narrow_window(
    inbox: RunningInbox, browser: Browser
) -> None:
    handle = await start_example(inbox, "cargo-release", "anomaly", unique("inbox-narrow"))
    await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    phone = await browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = await sign_in(phone, inbox, "alice")
        # The first Tab reaches the skip link, which leads straight to the content.
        await page.keyboard.press("Tab")
        await expect(page.locator(".skip")).to_be_focused()
        await page.keyboard.press("Enter")
        # ... and the address shows it (a moment later: the test waits for it).
        await expect(page).to_have_url(re.compile(r"#main$"))
        # Nothing but the table scrolls sideways: the page itself fits the window.
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await page.goto(f"{inbox.url}/decisions/{handle.id}")
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # Decide with the keyboard alone: focus the verdict, choose, send.
        await page.get_by_role("radio", name="Approve").focus()
        await page.keyboard.press("Space")
        await page.get_by_role("button", name="Send decision").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#answer")).to_have_text("Accepted: approved")
        await screenshot(page, "decision-narrow")
    finally:
        await phone.close()


async def test_an_invoice_with_lines_is_started_from_its_generated_form(
    inbox: RunningInbox, context: BrowserContext
) -> None:
    page = await sign_in(context, inbox, "alice")
    await page.goto(f"{inbox.url}/start/invoice-approval")
    number = unique("ACME").upper()
    await page.get_by_label("Supplier id").fill("SUP-ACME")
    await page.get_by_label("Invoice number").fill(number)
    await page.get_by_label("Invoice date").fill("2026-11-29")
    await page.get_by_label("Currency").fill("EUR")
    # The lines are a list of objects: written as JSON, as in an input file.
    await page.get_by_label("Lines").fill(
        '[{"item": "PRESS-H9", "quantity": 1, "unit_price": 62000.00, "amount": 62000.00}]'
    )
    await page.get_by_label("Total").fill("62000.00")
    await page.get_by_label("Iban").fill("DE89370400440532013000")
    await page.get_by_label("Po reference").fill("PO-3002")
    await page.get_by_role("button", name="Start").click()
    await page.wait_for_url("**/runs/invoice-approval-*")
    await expect(page.locator("h1")).to_contain_text("Invoice approval SUP-ACME")
    await expect(page.locator(".request")).to_contain_text(number)

    # Broken JSON is refused on the form, with the field named.
    await page.goto(f"{inbox.url}/start/invoice-approval")
    await page.get_by_label("Lines").fill("[{")
    await page.get_by_role("button", name="Start").click()
    await expect(page.locator("#answer")).to_contain_text("lines: not valid JSON")
