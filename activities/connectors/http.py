"""The HTTP side of every connector: one POST with an idempotency key, one GET, and the
failure classes a Temporal retry policy needs (retry on 5xx, 429, timeouts and refused
connections; give up at once on other 4xx). Each request is a client span whose trace
context goes along in the ``traceparent`` header, so a system of record that traces too shows
its work inside the run's trace."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
from opentelemetry import propagate, trace
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_RESPONSE_STATUS_CODE,
)
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import SpanKind, StatusCode
from temporalio.exceptions import ApplicationError

from sluice.activity_policy import SYSTEM_REJECTED

SYSTEM_UNAVAILABLE = "SystemOfRecordUnavailable"


class HttpSystem:
    """What every HTTP connector holds: the system's base address and how long one call may
    take before it counts as unavailable."""

    def __init__(self, base_url: str, timeout_seconds: float = 10.0) -> None:
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds


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


def refuse_other_record(system: str, asked: str, answered: str, *, kind: str = "") -> None:
    """Refuse for good an answer about another record than the one asked for: acting on it
    would be acting on someone else's data, and asking again would not change it. ``system``
    names who answered; ``kind`` (``"customer"``, say) is put before the record it named."""
    if answered != asked:
        named = f"{kind} {answered}" if kind else answered
        raise ApplicationError(
            f"{system} answered for {named}, not {asked}",
            type=SYSTEM_REJECTED,
            non_retryable=True,
        )


def redacted_url(url: str) -> str:
    """``url`` without user info, query or fragment, safe for logs and audit records."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _url(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"


async def _send(
    method: str,
    url: str,
    timeout_seconds: float,
    *,
    headers: dict[str, str] | None = None,
    **request: Any,
) -> httpx2.Response:
    """One request; a system that cannot be reached is unavailable (Temporal retries).

    The span names the method and the server only: paths and queries carry customer and
    ticket ids."""
    parts = urlsplit(url)
    attributes: dict[str, str | int] = {
        HTTP_REQUEST_METHOD: method,
        SERVER_ADDRESS: parts.hostname or "",
    }
    if parts.port:
        attributes[SERVER_PORT] = parts.port
    tracer = trace.get_tracer("sluice")
    with tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attributes) as span:
        sent = dict(headers or {})
        propagate.inject(sent)
        try:
            async with httpx2.AsyncClient(timeout=timeout_seconds) as client:
                response = await client.request(method, url, headers=sent, **request)
        except httpx2.TransportError as err:
            span.set_attribute(ERROR_TYPE, type(err).__name__)
            span.set_status(StatusCode.ERROR)
            raise ApplicationError(
                f"{url} unreachable: {type(err).__name__}", type=SYSTEM_UNAVAILABLE
            ) from err
        span.set_attribute(HTTP_RESPONSE_STATUS_CODE, response.status_code)
        if response.status_code >= 400:
            span.set_attribute(ERROR_TYPE, str(response.status_code))
            span.set_status(StatusCode.ERROR)
        return response


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
