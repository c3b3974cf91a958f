"""The HTTP side of every connector: one POST with an idempotency key, and the failure
classes a Temporal retry policy needs (retry on 5xx, timeouts and refused connections;
give up at once on 4xx)."""

from __future__ import annotations

from typing import Any

import httpx2
from temporalio.exceptions import ApplicationError

SYSTEM_UNAVAILABLE = "SystemOfRecordUnavailable"
SYSTEM_REJECTED = "SystemOfRecordRejected"


async def post_idempotent(
    base_url: str, path: str, body: dict[str, Any], *, key: str, timeout_seconds: float
) -> dict[str, Any]:
    """POST ``body`` with an ``Idempotency-Key`` header; return the JSON answer."""
    url = f"{base_url.rstrip('/')}/{path.lstrip('/')}"
    try:
        async with httpx2.AsyncClient(timeout=timeout_seconds) as client:
            response = await client.post(url, json=body, headers={"Idempotency-Key": key})
    except httpx2.TransportError as err:
        raise ApplicationError(
            f"{url} unreachable: {type(err).__name__}", type=SYSTEM_UNAVAILABLE
        ) from err
    if response.status_code >= 500 or response.status_code == 429:
        raise ApplicationError(f"{url} answered {response.status_code}", type=SYSTEM_UNAVAILABLE)
    if response.status_code >= 400:
        raise ApplicationError(
            f"{url} refused the request ({response.status_code}): {response.text[:200]}",
            type=SYSTEM_REJECTED,
            non_retryable=True,
        )
    answer: dict[str, Any] = response.json()
    return answer


async def get_json(
    base_url: str, path: str, *, timeout_seconds: float, params: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """GET a JSON resource; None when the system answers that it does not exist (404)."""
    url = f"{base_url.rstrip('/')}/{path.lstrip('/')}"
    try:
        async with httpx2.AsyncClient(timeout=timeout_seconds) as client:
            response = await client.get(url, params=params or {})
    except httpx2.TransportError as err:
        raise ApplicationError(
            f"{url} unreachable: {type(err).__name__}", type=SYSTEM_UNAVAILABLE
        ) from err
    if response.status_code == 404:
        return None
    if response.status_code >= 500 or response.status_code == 429:
        raise ApplicationError(f"{url} answered {response.status_code}", type=SYSTEM_UNAVAILABLE)
    if response.status_code >= 400:
        raise ApplicationError(
            f"{url} refused the request ({response.status_code}): {response.text[:200]}",
            type=SYSTEM_REJECTED,
            non_retryable=True,
        )
    try:
        answer: dict[str, Any] = response.json()
    except ValueError as err:
        raise ApplicationError(
            f"{url} answered with invalid JSON", type=SYSTEM_UNAVAILABLE
        ) from err
    return answer
