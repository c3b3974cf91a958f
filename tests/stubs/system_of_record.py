"""A local HTTP server standing in for a system of record (CRM, help desk, payments) in
connector tests: scripted answers per path, every request recorded, on 127.0.0.1 only.

    with SystemOfRecordStub() as crm:
        crm.answer("/customers/CUST-1/history", 200, {...})
        crm.fail_with(503)          # every request that has no scripted answer
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.stubs.loopback import LoopbackServer, StubHTTPServer


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class _Server(StubHTTPServer):
    stub: SystemOfRecordStub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else None
        parts = urlsplit(self.path)
        request = ReceivedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        status, payload = self.server.stub._respond(request)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class SystemOfRecordStub:
    """Scripted JSON answers by path; unscripted paths get ``default_status``."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.default_status = 404
        # Outage knobs: fail the next N requests, or answer each one this many seconds late.
        self.failures_left = 0
        self.failure_status = 503
        self.delay_seconds = 0.0
        self._answers: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()
        self._http = LoopbackServer(self, _Server, _Handler, "system-stub")

    @property
    def url(self) -> str:
        return self._http.url

    def answer(self, path: str, status: int, payload: Any) -> None:
        self._answers[path] = (status, payload)

    def fail_with(self, status: int) -> None:
        """Answer every unscripted request with ``status`` (e.g. 503: the system is down)."""
        self.default_status = status

    def fail_next(self, times: int, status: int = 503) -> None:
        """The next ``times`` requests fail with ``status``; then scripted answers resume."""
        self.failures_left, self.failure_status = times, status

    def _respond(self, request: ReceivedRequest) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(request)
            failing = self.failures_left > 0
            self.failures_left -= 1 if failing else 0
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if failing:
            return self.failure_status, {"error": "scripted outage"}
        if request.path in self._answers:
            return self._answers[request.path]
        return self.default_status, {"error": "scripted failure"}

    def __enter__(self) -> SystemOfRecordStub:
        self._http.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.stop()
