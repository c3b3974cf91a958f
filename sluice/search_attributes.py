"""Search attributes every Sluice run carries, so operators can find runs in the Temporal UI
and the CLI can list pending decisions from visibility alone.

They are not encrypted: only ids, statuses and risk levels go here, never personal data.
"""

from __future__ import annotations

from enum import StrEnum

from temporalio.client import Client
from temporalio.common import SearchAttributeKey

DOMAIN = SearchAttributeKey.for_keyword("Domain")
APPROVAL_STATUS = SearchAttributeKey.for_keyword("ApprovalStatus")
RISK_LEVEL = SearchAttributeKey.for_keyword("RiskLevel")
DECISION_NEEDED = SearchAttributeKey.for_keyword("DecisionNeeded")
DECISION_REQUESTED_AT = SearchAttributeKey.for_datetime("DecisionRequestedAt")

ALL_KEYS: tuple[SearchAttributeKey, ...] = (
    DOMAIN,
    APPROVAL_STATUS,
    RISK_LEVEL,
    DECISION_NEEDED,
    DECISION_REQUESTED_AT,
)


class ApprovalStatus(StrEnum):
    """Where a run stands with its human decision."""

    NOT_REQUIRED = "NotRequired"
    PENDING = "Pending"
    ESCALATED = "Escalated"
    APPROVED = "Approved"
    REJECTED = "Rejected"


def dev_server_flags() -> list[str]:
    """``temporal server start-dev`` flags that register every key at start."""
    flags: list[str] = []
    for key in ALL_KEYS:
        kind = "Datetime" if key.indexed_value_type.name == "DATETIME" else "Keyword"
        flags += ["--search-attribute", f"{key.name}={kind}"]
    return flags


class RiskLevel(StrEnum):
    """How much could go wrong if the run acted on its own."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


async def register(client: Client) -> None:
    """Register every key on the client's namespace (self-hosted clusters and the
    time-skipping test server; the embedded dev server registers them at start).
    Keys that already exist are left alone."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:
        # The time-skipping test server cannot list, but can add.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in ALL_KEYS
        if key.name not in existing
    }
    if not missing:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
