"""Serving a stub's request handler on 127.0.0.1, written once for every stub server."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubHTTPServer(ThreadingHTTPServer):
    """The HTTP server of a stub: its handler reaches the stub as ``self.server.stub``."""

    daemon_threads = True
    stub: Any


class LoopbackServer:
    """A free port on 127.0.0.1, served from a daemon thread until ``stop()``."""

    def __init__(
        self,
        owner: object,
        server: type[StubHTTPServer],
        handler: type[BaseHTTPRequestHandler],
        name: str,
    ) -> None:
        self.owner, self.server, self.handler, self.name = owner, server, handler, name
        self._server: StubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._server = self.server(("127.0.0.1", 0), self.handler)
        self._server.stub = self.owner
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=self.name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
