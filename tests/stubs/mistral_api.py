"""A local HTTP server that speaks Mistral's REST wire format, for tests and benchmarks.

The ``mistralai`` SDK sends requests through ``httpx2``, so mocking libraries built for
``httpx`` (respx, pytest-httpx) never see its traffic, and patching the SDK would test the
patch rather than the integration. A real server on loopback is the honest seam: the real
SDK serialises the real request, and parses a response shaped like Mistral's.

    with MistralStub() as stub:
        stub.enqueue_chat({"ok": True})
        client = Mistral(api_key="test", server_url=stub.url)
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import urlsplit

from tests.stubs.loopback import LoopbackServer, StubHTTPServer

CHAT_PATH = "/v1/chat/completions"
OCR_PATH = "/v1/ocr"
_PATHS = {"chat": CHAT_PATH, "ocr": OCR_PATH}

# Header names as returned by api.mistral.ai (per-minute buckets); values are illustrative.
EXAMPLE_RATE_LIMIT_HEADERS: dict[str, str] = {
    "x-ratelimit-limit-tokens-minute": "500000",
    "x-ratelimit-remaining-tokens-minute": "499000",
    "x-ratelimit-limit-req-minute": "60",
    "x-ratelimit-remaining-req-minute": "59",
}

_ERROR_TYPES = {401: "unauthorized", 422: "invalid_request_error", 429: "rate_limited"}

_Reply = tuple[int, Any, dict[str, str]]
_Script = Callable[[Any], _Reply]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stub received. Header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _text_of(messages: Any) -> str:
    parts: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return "".join(parts)


def _rough_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _doc_size(document: Any) -> int | None:
    url = None
    if isinstance(document, dict):
        url = document.get("document_url") or document.get("image_url")
    if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
        return len(base64.b64decode(url.split(";base64,", 1)[1]))
    return None


def _chat_script(
    content: str | dict[str, Any],
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    model: str | None = None,
    finish_reason: str = "stop",
    headers: dict[str, str] | None = None,
) -> _Script:
    text = content if isinstance(content, str) else json.dumps(content)

    def reply(request: Any) -> _Reply:
        req = request if isinstance(request, dict) else {}
        prompt = input_tokens
        if prompt is None:
            prompt = _rough_tokens(_text_of(req.get("messages")))
        completion = _rough_tokens(text) if output_tokens is None else output_tokens
        message = {"role": "assistant", "content": text, "tool_calls": None}
        body = {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "model": model or req.get("model") or "mistral-stub",
            "created": int(time.time()),
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
        return 200, body, dict(headers or {})

    return reply


def _ocr_script(pages: list[str], model: str = "mistral-ocr-latest") -> _Script:
    def reply(request: Any) -> _Reply:
        document = request.get("document") if isinstance(request, dict) else None
        usage = {"pages_processed": len(pages), "doc_size_bytes": _doc_size(document)}
        body = {
            "pages": [
                {
                    "index": i,
                    "markdown": text,
                    "images": [],
                    "dimensions": {"dpi": 200, "height": 2200, "width": 1700},
                }
                for i, text in enumerate(pages)
            ],
            "model": model,
            "document_annotation": None,
            "usage_info": usage,
        }
        return 200, body, {}

    return reply


class _Server(StubHTTPServer):
    stub: MistralStub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = urlsplit(self.path).path
        status, payload, extra = self.server.stub._respond(self.command, path, headers, body)
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        kind = "text/plain; charset=utf-8" if isinstance(payload, str) else "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class MistralStub:
    """Scripted fake of ``/v1/chat/completions`` and ``/v1/ocr`` on 127.0.0.1.

    Scripted replies are consumed in order, one queue per endpoint. When a queue is empty,
    ``default_chat`` / ``default_ocr`` answer if set, otherwise the stub replies 500.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.responses_by_status: Counter[int] = Counter()
        self.default_chat: Callable[[dict[str, Any]], str | dict[str, Any]] | None = None
        self.default_ocr: Callable[[dict[str, Any]], list[str]] | None = None
        self.rate_limit_headers: dict[str, str] | None = None
        self.latency_seconds: float = 0.0
        self.required_api_key: str | None = None
        # Enforce a request limit as the real API does: at most this many requests in any
        # sliding window of ``limit_window_seconds``, a 429 with Retry-After beyond it.
        self.requests_per_window: int | None = None
        self.limit_window_seconds: float = 60.0
        # (time.monotonic(), status) of every response, in the order they were sent.
        self.answered: list[tuple[float, int]] = []
        self._admitted: deque[float] = deque()
        self._queues: dict[str, deque[_Script]] = {CHAT_PATH: deque(), OCR_PATH: deque()}
        self._lock = threading.Lock()
        self._http = LoopbackServer(self, _Server, _Handler, "mistral-stub")

    @property
    def url(self) -> str:
        """Base URL to pass as ``server_url`` to ``Mistral``."""
        return self._http.url

    def start(self) -> MistralStub:
        """Bind a free loopback port and serve from a daemon thread."""
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._http.stop()

    def __enter__(self) -> MistralStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def count(self, path: str) -> int:
        """Number of requests received on ``path`` (e.g. ``"/v1/chat/completions"``)."""
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def enqueue_chat(
        self,
        content: str | dict[str, Any],
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        model: str | None = None,
        finish_reason: str = "stop",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Script a 200 chat completion whose assistant content is ``content``.

        A dict is sent JSON-encoded. Token counts default to a rough len(text) // 4 of the
        request messages and of the content; ``model`` defaults to the request's model.
        """
        self._push(
            CHAT_PATH,
            _chat_script(content, input_tokens, output_tokens, model, finish_reason, headers),
        )

    def enqueue_ocr(self, pages: list[str], *, model: str = "mistral-ocr-latest") -> None:
        """Script a 200 OCR response with one page per markdown string in ``pages``."""
        self._push(OCR_PATH, _ocr_script(pages, model))

    def enqueue_error(
        self,
        status: int,
        body: dict[str, Any] | str | None = None,
        *,
        headers: dict[str, str] | None = None,
        endpoint: Literal["chat", "ocr"] = "chat",
    ) -> None:
        """Script an error reply; ``body=None`` sends a Mistral-like JSON error object."""
        payload = body if body is not None else self._error_body(status)
        self._push(_PATHS[endpoint], lambda _request: (status, payload, dict(headers or {})))

    @staticmethod
    def _error_body(status: int, message: str | None = None) -> dict[str, Any]:
        return {
            "object": "error",
            "message": message or HTTPStatus(status).phrase,
            "type": _ERROR_TYPES.get(status, "api_error"),
            "param": None,
            "code": str(status),
        }

    def _push(self, path: str, script: _Script) -> None:
        with self._lock:
            self._queues[path].append(script)

    def _respond(self, method: str, path: str, headers: dict[str, str], body: Any) -> _Reply:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, body))
            room_in = self._over_limit()
        if room_in is not None:
            status, payload = 429, self._error_body(429, "Requests rate limit exceeded")
            extra = {"Retry-After": str(max(1, math.ceil(room_in)))}
        else:
            if self.latency_seconds > 0:
                time.sleep(self.latency_seconds)
            status, payload, extra = self._dispatch(path, headers, body)
            if status == 200 and self.rate_limit_headers:
                extra = {**self.rate_limit_headers, **extra}
        with self._lock:
            self.responses_by_status[status] += 1
            self.answered.append((time.monotonic(), status))
        return status, payload, extra

    def _over_limit(self) -> float | None:
        """Seconds until the window has room when this request exceeds the limit; None when
        it is admitted (and counted). Called with the lock held."""
        if self.requests_per_window is None:
            return None
        now = time.monotonic()
        while self._admitted and now - self._admitted[0] >= self.limit_window_seconds:
            self._admitted.popleft()
        if len(self._admitted) >= self.requests_per_window:
            return self.limit_window_seconds - (now - self._admitted[0])
        self._admitted.append(now)
        return None

    def _dispatch(self, path: str, headers: dict[str, str], body: Any) -> _Reply:
        if self.required_api_key is not None:
            if headers.get("authorization") != f"Bearer {self.required_api_key}":
                return 401, self._error_body(401, "Unauthorized"), {}
        if path not in self._queues:
            return 404, {"detail": "Not Found"}, {}
        with self._lock:
            queue = self._queues[path]
            script = queue.popleft() if queue else None
        if script is not None:
            return script(body)
        request = body if isinstance(body, dict) else {}
        if path == CHAT_PATH and self.default_chat is not None:
            return _chat_script(self.default_chat(request))(body)
        if path == OCR_PATH and self.default_ocr is not None:
            return _ocr_script(self.default_ocr(request))(body)
        name = "chat" if path == CHAT_PATH else "ocr"
        return 500, self._error_body(500, f"MistralStub: no scripted {name} response"), {}
