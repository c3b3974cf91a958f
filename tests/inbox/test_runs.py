"""The Runs page: a search by process, status, approval status and date, over the runs of
the processes one reviews."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.inbox.conftest import RunningInbox, start_example
from tests.inbox.test_security import signed_in
from tests.support import eventually, status_until


async def test_runs_are_found_by_process_status_approval_and_date(inbox: RunningInbox) -> None:
    cargo = await start_example(inbox, "cargo-release", "anomaly", f"find-{uuid.uuid4().hex[:8]}")
    clean = await start_example(inbox, "cargo-release", "clean", f"find-{uuid.uuid4().hex[:8]}")
    ticket = await start_example(inbox, "support-triage", "refund", f"find-{uuid.uuid4().hex[:8]}")
    for handle in (cargo, ticket):
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")
    await clean.result()
    today = datetime.now(UTC).date()
    tomorrow = today + timedelta(days=1)

    async with signed_in(inbox, "alice") as alice:

        async def found(**query: str) -> set[str]:
            page = (await alice.get("/runs", params=query)).text
            return {h.id for h in (cargo, clean, ticket) if f"/runs/{h.id}" in page}

        everything = {cargo.id, clean.id, ticket.id}

        async def indexed() -> bool:
            # Visibility follows the runs a moment later: the finished run, and the waiting
            # runs' approval status (a query may see the wait before its upsert is recorded).
            finished = await found(process="cargo-release", state="completed")
            waiting = await found(approval="Pending")
            return finished == {clean.id} and waiting == {cargo.id, ticket.id}

        await eventually(indexed, what="the runs' state and approval status in visibility")
        assert await found() == everything
        assert await found(process="cargo-release") == {cargo.id, clean.id}
        assert await found(approval="Pending") == {cargo.id, ticket.id}
        assert await found(since=today.isoformat()) == everything
        assert await found(since=tomorrow.isoformat()) == set()
        # Values outside the fixed sets are ignored, never put into the query.
        assert await found(state="' OR 1=1 --", approval="x'") == everything
