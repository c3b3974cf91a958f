"""The ticketing system: which queue a ticket sits in, and the replies sent from it.

``SqliteTicketing`` is the embedded default: a ledger in ``ticketing.sqlite3`` whose
``reply`` entries are the outbox a mail relay would drain. ``HttpTicketing`` talks to a help
desk's API. Both act once per idempotency key (workflow id and step), so a retried or
replayed reply is never sent twice.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field
from temporalio import activity

from activities.connectors.http import HttpSystem, post_idempotent
from activities.connectors.ledger import Ledger
from sluice.activity_policy import ActivityPolicy, system_of_record_retry, with_policy
from sluice.config import ConnectorSettings
from sluice.framework.receipts import ActionReceipt

# A help desk outage of a minute is common; a reply is worth waiting for (the key makes the
# retries safe), and after six attempts the run reports the failure rather than hide it.
TICKETING_WRITE = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=system_of_record_retry(6),
)

AssignmentAction = Literal["route", "handoff"]


class QueueAssignment(BaseModel):
    """Put a ticket in a queue; a hand-over to humans carries the draft for them to use."""

    ticket_id: str
    queue: str
    reason: str
    idempotency_key: str
    draft: str | None = None


class TicketReply(BaseModel):
    """A reply to the customer on their ticket."""

    ticket_id: str
    customer_id: str
    language: str
    body: str = Field(min_length=1)
    idempotency_key: str
    approved_by: list[str]


class TicketingReceipt(ActionReceipt):
    ticket_id: str


class Ticketing(Protocol):
    async def assign(
        self, assignment: QueueAssignment, action: AssignmentAction
    ) -> TicketingReceipt: ...

    async def reply(self, reply: TicketReply) -> TicketingReceipt: ...


class SqliteTicketing:
    """Embedded ticketing: routes, hand-overs and the reply outbox in one ledger."""

    def __init__(self, path: Path) -> None:
        self.ledger = Ledger(path, "ticket")

    async def assign(
        self, assignment: QueueAssignment, action: AssignmentAction
    ) -> TicketingReceipt:
        entry = await self.ledger.record(
            assignment.idempotency_key,
            action,
            assignment.ticket_id,
            {"queue": assignment.queue, "reason": assignment.reason, "draft": assignment.draft},
        )
        return TicketingReceipt.recorded(entry, ticket_id=entry.subject)

    async def reply(self, reply: TicketReply) -> TicketingReceipt:
        entry = await self.ledger.record(
            reply.idempotency_key,
            "reply",
            reply.ticket_id,
            {
                "customer_id": reply.customer_id,
                "language": reply.language,
                "body": reply.body,
                "approved_by": reply.approved_by,
            },
        )
        return TicketingReceipt.recorded(entry, ticket_id=entry.subject)


class HttpTicketing(HttpSystem):
    """A help desk's HTTP API (``POST /tickets/{id}/assignments`` and ``/replies``)."""

    async def _post(
        self, ticket_id: str, path: str, body: dict[str, object], key: str
    ) -> TicketingReceipt:
        answer = await post_idempotent(
            self.base_url,
            f"tickets/{ticket_id}/{path}",
            body,
            key=key,
            timeout_seconds=self.timeout_seconds,
        )
        return TicketingReceipt.answered(answer, key, ticket_id=ticket_id)

    async def assign(
        self, assignment: QueueAssignment, action: AssignmentAction
    ) -> TicketingReceipt:
        return await self._post(
            assignment.ticket_id,
            "assignments",
            {**assignment.model_dump(mode="json"), "action": action},
            assignment.idempotency_key,
        )

    async def reply(self, reply: TicketReply) -> TicketingReceipt:
        return await self._post(
            reply.ticket_id, "replies", reply.model_dump(mode="json"), reply.idempotency_key
        )


def ticketing_from_settings(connectors: ConnectorSettings, data_dir: Path) -> Ticketing:
    """The HTTP help desk when a URL is configured, otherwise the embedded ledger."""
    if connectors.ticketing_url:
        return HttpTicketing(connectors.ticketing_url, connectors.http_timeout_seconds)
    return SqliteTicketing(data_dir / "ticketing.sqlite3")


class TicketingActivities:
    """Routing, hand-over and replies, as activities."""

    def __init__(self, ticketing: Ticketing) -> None:
        self.ticketing = ticketing

    @activity.defn(name="route_ticket")
    @with_policy(TICKETING_WRITE)
    async def route_ticket(self, assignment: QueueAssignment) -> TicketingReceipt:
        """Put the ticket in the queue the rules chose (once per key)."""
        receipt = await self.ticketing.assign(assignment, "route")
        return receipt.model_copy(update={"attempt": activity.info().attempt})

    @activity.defn(name="hand_over_ticket")
    @with_policy(TICKETING_WRITE)
    async def hand_over_ticket(self, assignment: QueueAssignment) -> TicketingReceipt:
        """Give the ticket to a human queue, with the draft attached (once per key)."""
        receipt = await self.ticketing.assign(assignment, "handoff")
        return receipt.model_copy(update={"attempt": activity.info().attempt})

    @activity.defn(name="send_ticket_reply")
    @with_policy(TICKETING_WRITE)
    async def send_ticket_reply(self, reply: TicketReply) -> TicketingReceipt:
        """Send the reply to the customer (once per key, whatever the retries)."""
        receipt = await self.ticketing.reply(reply)
        return receipt.model_copy(update={"attempt": activity.info().attempt})
