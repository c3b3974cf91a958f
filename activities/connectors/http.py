"""The HTTP side of every connector: one POST with an idempotency key, one GET, and the
failure classes a Temporal retry policy needs (retry on 5xx, 429, timeouts and refused
connections; give up at once on other 4xx)."""

from __future__ import annotations

from typing import Any

import httpx2
from temporalio.exceptions import ApplicationError

from sluice.activity_policy import SYSTEM_REJECTED

SYSTEM_UNAVAILABLE = "SystemOfRecordUnavailable"


async def post_idempotent(
    base_url: str,
    path: str,
    body: dict[str, Any],
    *,
    key: str,
    timeout_seconds: float,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST ``body`` with an ``Idempotency-Key`` header (and ``headers``, e.g. credentials);
    return the JSON answer."""
    url = _url(base_url, path)
    response = await _send(
        "POST", url, timeout_seconds, json=body, headers={**(headers or {}), "Idempotency-Key": key}
    )
    _refuse_failures(url, response)
    answer: dict[str, Any] = response.json()
    return answer


async def get_json(
    base_url: str, path: str, *, timeout_seconds: float, params: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """GET a JSON resource; None when the system answers that it does not exist (404)."""
    url = _url(base_url, path)
    response = await _send("GET", url, timeout_seconds, params=params or {})
    if response.status_code == 404:
        return None
    _refuse_failures(url, response)
    try:
        answer: dict[str, Any] = response.json()
    except ValueError as err:
        raise ApplicationError(
            f"{url} answered with invalid JSON", type=SYSTEM_UNAVAILABLE
        ) from err
    return answer


async def get_bytes(url: str, *, timeout_seconds: float) -> bytes:
    """GET a file (a list export, say) as it is; failures classified as for every call."""
    response = await _send("GET", url, timeout_seconds)
    _refuse_failures(url, response)
    return response.content


def _url(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"


async def _send(method: str, url: str, timeout_seconds: float, **request: Any) -> httpx2.Response:
    """One request; a system that cannot be reached is unavailable (Temporal retries)."""
    try:
        async with httpx2.AsyncClient(timeout=timeout_seconds) as client:
            return await client.request(method, url, **request)
    except httpx2.TransportError as err:
        raise ApplicationError(
            f"{url} unreachable: {type(err).__name__}", type=SYSTEM_UNAVAILABLE
        ) from err


def _refuse_failures(url: str, response: httpx2.Response) -> None:
    """5xx and 429 are worth retrying; any other 4xx is refused for good."""
    if response.status_code >= 500 or response.status_code == 429:
        raise ApplicationError(f"{url} answered {response.status_code}", type=SYSTEM_UNAVAILABLE)
    if response.status_code >= 400:
        raise ApplicationError(
            f"{url} refused the request ({response.status_code}): {response.text[:200]}",
            type=SYSTEM_REJECTED,
            non_retryable=True,
        )
