"""The codec server: lets a holder of its token see decrypted payloads in the Temporal UI and
the ``temporal`` CLI, while the Temporal server itself only ever stores ciphertext.

It speaks Temporal's remote codec protocol: ``POST /decode`` and ``POST /encode`` (also under
a namespace prefix, ``/{namespace}/decode``) take and return ``{"payloads": [...]}`` in
protobuf JSON (metadata values and data base64). One key ring serves every namespace, so the
``X-Namespace`` header is accepted and not needed.

Access needs the token, presented one of two ways:
- ``Authorization: Bearer <token>``: the CLI's ``--codec-auth "Bearer <token>"``;
- a session cookie set by signing in at this server's ``/`` page: the Web UI of a dev server
  cannot send a token of ours, but with "Include cross-origin credentials" ticked in its
  Codec Server settings it sends this server's cookie.
Without it the answer is 401 and the UI shows payloads still encrypted. ``GET /health`` is
open (container health checks). CORS admits only the configured UI origins.

python -m sluice.codec_server [--host 127.0.0.1] [--port 8081]   # token: SLUICE_CODEC_TOKEN
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import secrets
import sys
import threading
from collections.abc import Sequence
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from sluice.codec import EncryptionCodec, codec_from_settings, keys_path
from sluice.config import ConfigError, Settings, load_settings

log = logging.getLogger("sluice.codec_server")

SESSION_COOKIE = "sluice_codec_session"
SESSION_SECONDS = 12 * 3600
# Temporal caps a payload at a few MB; a history decoded at once stays well under this.
MAX_BODY_BYTES = 64 * 1024 * 1024
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def token_path(settings: Settings) -> Path:
    """Where the generated token is kept: beside the key file."""
    return keys_path(settings).parent / "token"


def codec_token(settings: Settings, *, create: bool = False) -> str:
    """``SLUICE_CODEC_TOKEN`` when set, else the token file (created with ``create``)."""
    if settings.codec.token:
        return settings.codec.token
    path = token_path(settings)
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it a moment ago: use theirs
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(secrets.token_urlsafe(32) + "\n")
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if not token:
        raise ConfigError(
            f"no codec server token: set SLUICE_CODEC_TOKEN, or run `python worker.py --dev` "
            f"once to create {path}"
        )
    return token


class CodecServer(ThreadingHTTPServer):
    """The HTTP server, holding the codec, the token and the UI origins it admits."""

    daemon_threads = True

    def __init__(
        self,
        codec: EncryptionCodec,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8081,
        ui_origins: Sequence[str] = (),
    ) -> None:
        self.codec = codec
        self.token = token
        self.ui_origins = tuple(dict.fromkeys(origin.rstrip("/") for origin in ui_origins))
        super().__init__((host, port), CodecEndpoints)

    @property
    def endpoint(self) -> str:
        """The URL to give the UI and CLI. ``localhost`` rather than 127.0.0.1, so that the
        sign-in cookie counts as same-site for a UI at http://localhost:<port>."""
        host, port = str(self.server_address[0]), self.server_address[1]
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
        return f"http://{shown}:{port}"

    def start(self) -> threading.Thread:
        """Serve on a background thread (the worker's ``--dev`` mode)."""
        thread = threading.Thread(target=self.serve_forever, name="codec-server", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def admits(self, credential: str) -> bool:
        return bool(credential) and secrets.compare_digest(credential.encode(), self.token.encode())


class CodecEndpoints(BaseHTTPRequestHandler):
    """One request to the codec server."""

    server: CodecServer
    protocol_version = "HTTP/1.1"

    def do_OPTIONS(self) -> None:
        # A browser's preflight carries no credentials: answer it for admitted origins only.
        if self._origin() is None:
            self._reply(403, {"error": "origin not allowed"})
            return
        self._reply(204, None)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/health":
            self._reply(200, {"status": "ok"})
        elif path in ("/", "/login"):
            self._page(200, _SIGN_IN_FORM)
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        # Read the body first, whatever the answer: the connection is kept alive.
        body = self._body()
        if body is None:
            return
        path = urlsplit(self.path).path
        action = path.rstrip("/").rsplit("/", 1)[-1]
        if path in ("/", "/login"):
            self._sign_in(body)
        elif action not in ("encode", "decode"):
            self._reply(404, {"error": "not found"})
        elif not self._authorised():
            self._reply(401, {"error": "a valid bearer token is required"})
        else:
            self._convert(action, body)

    def _convert(self, action: str, body: bytes) -> None:
        try:
            request = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except json_format.ParseError as err:
            self._reply(400, {"error": f"not a codec request: {err}"})
            return
        convert = self.server.codec.encrypt if action == "encode" else self.server.codec.decrypt
        try:
            converted = Payloads(payloads=[convert(payload) for payload in request.payloads])
        except ConfigError as err:  # unknown key id or failed authentication, key never named
            self._reply(400, {"error": str(err)})
            return
        self._reply(200, json.loads(json_format.MessageToJson(converted)))

    def _sign_in(self, body: bytes) -> None:
        offered = parse_qs(body.decode("utf-8", errors="replace")).get("token", [""])[0].strip()
        if not self.server.admits(offered):
            self._page(401, _SIGN_IN_FORM.replace("<!--problem-->", "<p>Wrong token.</p>"))
            return
        # SameSite=Strict still travels with the UI's requests: localhost ports are one site.
        cookie = (
            f"{SESSION_COOKIE}={offered}; Path=/; HttpOnly; SameSite=Strict; "
            f"Max-Age={SESSION_SECONDS}"
        )
        ui = self.server.ui_origins[0] if self.server.ui_origins else ""
        page = _SIGNED_IN.replace("{ui}", html.escape(ui)).replace(
            "{endpoint}", html.escape(self.server.endpoint)
        )
        self._page(200, page, cookie=cookie)

    def _authorised(self) -> bool:
        scheme, _, credential = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self.server.admits(credential.strip())
        try:
            morsel = SimpleCookie(self.headers.get("Cookie", "")).get(SESSION_COOKIE)
        except CookieError:
            return False
        return morsel is not None and self.server.admits(morsel.value)

    def _origin(self) -> str | None:
        origin = (self.headers.get("Origin") or "").rstrip("/")
        return origin if origin in self.server.ui_origins else None

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._reply(413 if length > 0 else 400, {"error": "unreadable or oversized body"})
            return None
        return self.rfile.read(length)

    def _cors(self) -> None:
        origin = self._origin()
        if origin is None:
            return
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")

    def _reply(self, status: int, document: object | None) -> None:
        body = b"" if document is None else json.dumps(document).encode()
        self.send_response(status)
        self._cors()
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="sluice-codec"')
        if document is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _page(self, status: int, page: str, cookie: str | None = None) -> None:
        body = page.encode()
        self.send_response(status)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Request lines only (never bodies), and quietly: the worker's console is for runs.
        log.debug(format, *args)


_SIGN_IN_FORM = """<!doctype html><title>Sluice codec server</title>
<h1>Sluice codec server</h1><!--problem-->
<p>Sign this browser in to see decrypted payloads in the Temporal UI.</p>
<form method="post" action="/login"><label>Token <input name="token" type="password"
autofocus></label> <button>Sign in</button></form>"""

_SIGNED_IN = """<!doctype html><title>Sluice codec server</title>
<h1>Signed in</h1>
<p>Once per browser, in the Temporal UI at <a href="{ui}">{ui}</a>: open the Codec Server
settings (the glasses icon at the top), choose <em>Use my browser setting and ignore
Cluster-level setting</em>, enter <code>{endpoint}</code>, switch on <em>Include cross-origin
credentials</em> and apply. Payloads then show decrypted.</p>"""


def start_for_dev(settings: Settings, codec: EncryptionCodec, ui_port: int) -> CodecServer:
    """The codec server of ``worker.py --dev``: on this machine only, with a token made on
    first run, admitting the embedded UI's origins."""
    token = codec_token(settings, create=True)
    # The embedded UI first: the sign-in page links to it.
    origins = [f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"]
    origins += settings.codec.ui_origins
    port = settings.codec.server_port
    try:
        server = CodecServer(codec, token, port=port, ui_origins=origins)
    except OSError as err:
        raise ConfigError(
            f"codec server: cannot listen on 127.0.0.1:{port} ({err.strerror}); "
            "set SLUICE_CODEC_PORT or [codec] server_port"
        ) from None
    server.start()
    return server


def usage_lines(settings: Settings, server: CodecServer) -> list[str]:
    """How a developer sees decrypted payloads. Names where the token is, never the key."""
    if settings.codec.token:
        where, shell = "SLUICE_CODEC_TOKEN", "$SLUICE_CODEC_TOKEN"
    else:
        where, shell = str(token_path(settings)), f"$(cat {token_path(settings)})"
    return [
        f"Codec server:      {server.endpoint} (payloads are encrypted; token in {where})",
        f"  UI:  sign in at {server.endpoint}/ with the token; that page says which UI setting "
        "to switch on (once per browser)",
        f"  CLI: temporal workflow show -w WORKFLOW_ID --codec-endpoint {server.endpoint} "
        f'--codec-auth "Bearer {shell}"',
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted; every configuration problem is one line and exit code 1."""
    parser = argparse.ArgumentParser(prog="python -m sluice.codec_server", description=__doc__)
    parser.add_argument("--config", help="configuration file (default: sluice.toml)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, help="port (default: [codec] server_port, 8081)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        codec = codec_from_settings(settings)
        if codec is None:
            raise ConfigError("encryption is disabled (SLUICE_CODEC_DISABLED): nothing to decode")
        port = args.port or settings.codec.server_port
        try:
            server = CodecServer(
                codec,
                codec_token(settings),
                host=args.host,
                port=port,
                ui_origins=settings.codec.ui_origins,
            )
        except OSError as err:
            raise ConfigError(f"cannot listen on {args.host}:{port} ({err.strerror})") from None
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"codec server on http://{args.host}:{port} (key ring {keys_path(settings)}, "
        f"current key id '{codec.ring.current}'); UI origins: {', '.join(server.ui_origins)}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
