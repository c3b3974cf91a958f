"""Reading what people and tools send to a run (signals and updates), as the workflow's own
handlers do, so that no message can jam a run.

The SDK would call a typed handler with whatever arrived: no payload or two payloads make the
call itself fail, and a payload in another encoding (``binary/plain``) reaches the handler as
bytes. Either fails the workflow task, again on every retry, and the run can then no longer
be read, decided or time out. So every message reaches ``BusinessProcess`` still encoded
(``RawValue``) and is read here: exactly one JSON payload that validates against the
message's model, or a ``MessageRefused`` that says why, for the audit trail or the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.common import RawValue

from sluice.codec import refusal_of
from sluice.converter import conversion_problem

M = TypeVar("M", bound=BaseModel)

JSON = b"json/plain"


class MessageRefused(ValueError):
    """A message that cannot be read; the text says why, in one line."""


def read_message(payloads: Sequence[RawValue], schema: type[M]) -> M:
    """The one JSON payload of a message as ``schema``, or ``MessageRefused``."""
    if len(payloads) != 1:
        raise MessageRefused(f"expected one payload, got {len(payloads)}")
    payload = payloads[0].payload
    undecryptable = refusal_of(payload)
    if undecryptable is not None:
        raise MessageRefused(f"could not be read: {undecryptable}")
    encoding = payload.metadata.get("encoding", b"")
    if encoding != JSON:
        raise MessageRefused(f"encoding {shown(encoding.decode('utf-8', 'replace'))} is not JSON")
    try:
        return schema.model_validate_json(payload.data)
    except ValidationError as err:
        raise MessageRefused(conversion_problem(err)) from None


def shown(text: str, limit: int = 60) -> str:
    """A name from outside (a signal's name, an encoding) quoted as it may appear in the
    audit trail: unprintable characters escaped, cut at ``limit``."""
    escaped = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:limit])
    return f"'{escaped}{'...' if len(text) > limit else ''}'"
