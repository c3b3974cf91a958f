"""The terminal operating system: where cargo is released to the consignee or put on hold.

``SqliteTerminal`` is the embedded default (a real ledger file); ``HttpTerminal`` talks to a
terminal's API. Both are idempotent by the key the workflow passes (workflow id and step).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel
from temporalio import activity

from activities.connectors.http import HttpSystem, post_idempotent
from activities.connectors.ledger import Ledger
from sluice.activity_policy import ActivityPolicy, system_of_record_retry, with_policy
from sluice.framework.receipts import ActionReceipt

# A terminal outage of a few seconds is common and worth riding out; after four attempts
# the run fails visibly rather than leaving an officer's decision silently unexecuted.
TERMINAL_WRITE = ActivityPolicy(
    start_to_close=timedelta(seconds=30),
    retry=system_of_record_retry(4),
)


class TerminalOrder(BaseModel):
    """An instruction to the terminal about one shipment."""

    shipment_id: str
    action: Literal["release", "hold"]
    idempotency_key: str
    reason: str
    authorised_by: list[str]


class TerminalReceipt(ActionReceipt):
    """The terminal's record of the instruction."""

    shipment_id: str
    action: Literal["release", "hold"]


class Terminal(Protocol):
    async def instruct(self, order: TerminalOrder) -> TerminalReceipt: ...


class SqliteTerminal:
    """Embedded terminal: releases and holds recorded in ``terminal.sqlite3``."""

    def __init__(self, path: Path) -> None:
        self.ledger = Ledger(path, "terminal")

    async def instruct(self, order: TerminalOrder) -> TerminalReceipt:
        entry = await self.ledger.record(
            order.idempotency_key,
            order.action,
            order.shipment_id,
            {"reason": order.reason, "authorised_by": order.authorised_by},
        )
        return TerminalReceipt.recorded(entry, shipment_id=entry.subject, action=order.action)


class HttpTerminal(HttpSystem):
    """A terminal operating system's HTTP API (``POST /shipments/{id}/{action}``)."""

    async def instruct(self, order: TerminalOrder) -> TerminalReceipt:
        answer = await post_idempotent(
            self.base_url,
            f"shipments/{order.shipment_id}/{order.action}",
            order.model_dump(mode="json"),
            key=order.idempotency_key,
            timeout_seconds=self.timeout_seconds,
        )
        return TerminalReceipt.answered(
            answer, order.idempotency_key, shipment_id=order.shipment_id, action=order.action
        )


class TerminalActivities:
    """Release and hold, as activities."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal

    async def _instruct(self, order: TerminalOrder) -> TerminalReceipt:
        receipt = await self.terminal.instruct(order)
        return receipt.model_copy(update={"attempt": activity.info().attempt})

    @activity.defn(name="release_cargo")
    @with_policy(TERMINAL_WRITE)
    async def release_cargo(self, order: TerminalOrder) -> TerminalReceipt:
        """Release the shipment to the consignee (once, whatever the retries)."""
        return await self._instruct(order)

    @activity.defn(name="hold_cargo")
    @with_policy(TERMINAL_WRITE)
    async def hold_cargo(self, order: TerminalOrder) -> TerminalReceipt:
        """Put the shipment on hold at the terminal (once, whatever the retries)."""
        return await self._instruct(order)
