"""What a system of record answers to a business action: the receipt every connector returns,
and the embedded ledger's row it is made from. Shared by the framework (notifications) and the
connectors of every process."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel


class LedgerEntry(BaseModel):
    """One recorded action."""

    idempotency_key: str
    action: str
    subject: str
    reference: str
    recorded_at: datetime
    detail: dict[str, Any]
    duplicate: bool = False


class ActionReceipt(BaseModel):
    """What a system of record answers to a business action, whichever system: its
    reference, the idempotency key the action was recorded under, whether it had been
    recorded before (a retry or a replay), and the activity attempt that got the answer."""

    reference: str
    idempotency_key: str
    duplicate: bool
    attempt: int = 1

    @classmethod
    def recorded(cls, entry: LedgerEntry, **fields: Any) -> Self:
        """From the embedded ledger's record of the action."""
        return cls(
            reference=entry.reference,
            idempotency_key=entry.idempotency_key,
            duplicate=entry.duplicate,
            **fields,
        )

    @classmethod
    def answered(cls, answer: Mapping[str, Any], key: str, **fields: Any) -> Self:
        """From a system's HTTP answer (its ``reference`` and ``duplicate``)."""
        return cls(
            reference=str(answer.get("reference", "")),
            idempotency_key=key,
            duplicate=bool(answer.get("duplicate", False)),
            **fields,
        )
