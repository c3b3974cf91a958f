"""The codec server: lets a holder of its token see decrypted payloads in the Temporal UI and
the ``temporal`` CLI, while the Temporal server itself only ever stores ciphertext.

It speaks Temporal's remote codec protocol: ``POST /decode`` and ``POST /encode`` (also under
a prefix such as ``/{namespace}/decode``: only the last part of the path counts) take and
return ``{"payloads": [...]}`` in protobuf JSON (metadata values and data base64). One key
ring serves every namespace, so the ``X-Namespace`` header is accepted and not needed.

Access needs the token, presented one of two ways:
- ``Authorization: Bearer <token>``: the CLI's ``--codec-auth "Bearer <token>"``;
- a session cookie from signing in at this server's ``/`` page: the Web UI of a dev server
  cannot send a token of ours, but with "Include cross-origin credentials" ticked in its
  Codec Server settings it sends this server's cookie. The cookie holds an expiry and its
  HMAC under a key derived from the token, never the token itself.

Every request is judged on its headers before its body is read: without credentials 401,
above the size cap 413, a body that does not arrive in time 408, and a connection that does
not finish its headers (or sits idle) is closed. A body that is not a codec request, or a
payload that cannot be decrypted, gets 400 with a short JSON error. ``GET /health`` is open
(container health checks). CORS admits only the configured UI origins. Payload content is
never logged.

python -m sluice.codec_server [--host 127.0.0.1] [--port 8081] [--tls-cert PEM --tls-key PEM]
# the token: SLUICE_CODEC_TOKEN
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import html
import logging
import os
import secrets
import signal
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from urllib.parse import parse_qs

from aiohttp import hdrs, web
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from sluice.codec import ENCODING, KEY_ID, EncryptionCodec, codec_from_settings, keys_path
from sluice.config import ConfigError, Settings, load_settings
from sluice.logs import announce, configure_logging
from sluice.private_files import private_folder

log = logging.getLogger("sluice.codec_server")

SESSION_COOKIE = "sluice_codec_session"
SESSION_SECONDS = 12 * 3600
# Temporal refuses any blob (one event's Payloads) above 2 MiB (`limit.blobSize.error`), and
# the payload store's threshold is capped there too, so no history holds a larger Payloads.
# Its protobuf JSON is base64 (4/3 of the bytes) plus the metadata keys in text: at most
# about twice the protobuf size, for the smallest payloads. Twice the limit fits any real
# request; anything larger is refused, unread when its length is declared.
TEMPORAL_BLOB_LIMIT = 2 * 1024 * 1024
MAX_BODY_BYTES = 2 * TEMPORAL_BLOB_LIMIT
# The sign-in form holds one token.
SIGN_IN_MAX_BYTES = 4096
# A body must arrive within this (4 MiB on a slow link; a UI request is a few KB).
READ_TIMEOUT_SECONDS = 30.0
# A connection must finish its request headers within this from connecting or from its last
# answer, or it is closed (slowloris; idle keep-alive connections).
IDLE_TIMEOUT_SECONDS = 15.0
# What the Temporal UI sends: Content-Type and X-Namespace (Authorization from the CLI).
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_path(settings: Settings) -> Path:
    """Where the generated token is kept: beside the key file."""
    return keys_path(settings).parent / "token"


def codec_token(settings: Settings, *, create: bool = False) -> str:
    """``SLUICE_CODEC_TOKEN`` when set, else the token file (created with ``create``)."""
    if settings.codec.token:
        return settings.codec.token
    path = token_path(settings)
    if create and not path.exists():
        private_folder(path.parent)
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


class SessionSigner:
    """Session cookies ``<expiry>.<signature>``: an HMAC-SHA256 of the expiry time under a key
    derived from the token. A stolen cookie does not reveal the token and stops working at its
    expiry; a new token ends every session at once. Several codec servers sharing a token
    accept each other's cookies."""

    def __init__(self, token: str, lifetime_seconds: int = SESSION_SECONDS) -> None:
        derivation = hmac.new(token.encode(), b"sluice codec session cookie", hashlib.sha256)
        self._key = derivation.digest()
        self.lifetime_seconds = lifetime_seconds

    def issue(self, expires_at: int | None = None) -> str:
        """A cookie value valid until ``expires_at`` (default: the lifetime from now)."""
        expiry = str(expires_at if expires_at is not None else self._now() + self.lifetime_seconds)
        return f"{expiry}.{self._signature(expiry)}"

    def admits(self, value: str) -> bool:
        """Whether ``value`` is a cookie this signer issued that has not expired yet."""
        expiry, _, signature = value.partition(".")
        if not expiry.isdigit() or not secrets.compare_digest(
            signature.encode(), self._signature(expiry).encode()
        ):
            return False
        return self._now() < int(expiry)

    def _signature(self, expiry: str) -> str:
        digest = hmac.new(self._key, expiry.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @staticmethod
    def _now() -> int:
        return int(time.time())


class Refusal(Exception):
    """A request answered with an error status and a short JSON message. ``close`` drops the
    connection afterwards, for refusals made before the body was read."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


class CodecServer:
    """The HTTP server (aiohttp), holding the codec, the token and the UI origins it admits.
    ``await start()`` serves on the running event loop until ``await stop()``."""

    def __init__(
        self,
        codec: EncryptionCodec,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8081,
        ui_origins: Sequence[str] = (),
        max_body_bytes: int = MAX_BODY_BYTES,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        access_log: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.codec = codec
        self.token = token
        self.sessions = SessionSigner(token)
        self.host = host
        self.ui_origins = tuple(dict.fromkeys(origin.rstrip("/") for origin in ui_origins))
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout
        self.requested_port = port
        self.tls = tls
        self._runner = web.AppRunner(
            self._application(),
            # aiohttp closes a connection whose request headers are not complete when this
            # runs out, counted from connecting or from the last answer.
            keepalive_timeout=idle_timeout,
            # A body left unread by a refusal is not drained either: the connection closes.
            lingering_time=0,
            handler_cancellation=True,
            # Request lines and statuses only: never headers (the token) or bodies.
            access_log=log if access_log else None,
            access_log_format='%a "%r" %s %b %Tfs',
        )

    def _application(self) -> web.Application:
        app = web.Application(
            middlewares=[self._answer_in_json], client_max_size=self.max_body_bytes
        )
        # Only the last part of the path names the action (the codec protocol).
        codec_path = r"/{prefix:(?:[^/]+/)*}{action:encode|decode}"
        app.router.add_post(codec_path, self._convert)
        app.router.add_route(hdrs.METH_OPTIONS, codec_path, self._preflight)
        app.router.add_get("/health", self._health)
        for path in ("/", "/login"):
            app.router.add_get(path, self._sign_in_form)
            app.router.add_post(path, self._sign_in)
        return app

    async def start(self) -> None:
        """Listen; a port that cannot be had is a ``ConfigError`` naming it."""
        await self._runner.setup()
        try:
            await web.TCPSite(
                self._runner, self.host, self.requested_port, ssl_context=self.tls
            ).start()
        except OSError as err:
            await self._runner.cleanup()
            raise ConfigError(
                f"codec server: cannot listen on {self.host}:{self.requested_port} ({err.strerror})"
            ) from None

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        await self._runner.cleanup()

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose when asked for port 0)."""
        return int(self._runner.addresses[0][1])

    @property
    def endpoint(self) -> str:
        """The URL to give the UI and CLI. ``localhost`` rather than 127.0.0.1, so that the
        sign-in cookie counts as same-site for a UI at http://localhost:<port>."""
        shown = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"{'https' if self.tls else 'http'}://{shown}:{self.port}"

    # --- the endpoints ------------------------------------------------------------------------

    async def _convert(self, request: web.Request) -> web.Response:
        # Credentials, origin and size come from the headers: no byte of the body is read
        # for a request refused on them.
        self._authenticate(request)
        body = await self._read_body(request, self.max_body_bytes)
        try:
            payloads = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, RecursionError):
            raise Refusal(
                400, 'not a codec request: expected {"payloads": [...]} in protobuf JSON'
            ) from None
        encode = request.match_info["action"] == "encode"
        convert = self.codec.encrypt if encode else self.codec.decrypt
        converted = Payloads()
        for index, payload in enumerate(payloads.payloads):
            if not encode and (unknown := self._unknown_key_id(payload)):
                raise Refusal(
                    400, f"payload {index}: sealed with key id '{unknown}', not in this key ring"
                )
            try:
                converted.payloads.append(convert(payload))
            except ConfigError as err:  # failed authentication: names the key id, never the key
                raise Refusal(400, f"payload {index}: {err}") from None
            except (ValueError, DecodeError):
                raise Refusal(
                    400, f"payload {index}: not a valid encrypted payload (too short or garbled)"
                ) from None
        return web.Response(
            text=json_format.MessageToJson(converted), content_type="application/json"
        )

    def _unknown_key_id(self, payload: Payload) -> str | None:
        """The key id an encrypted payload names when the ring lacks it (shortened: it is the
        sender's text), so that the refusal does not name the server's key file."""
        if payload.metadata.get("encoding") != ENCODING:
            return None
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", errors="replace")
        return key_id[:64] if key_id and key_id not in self.codec.ring.key_ids else None

    async def _preflight(self, request: web.Request) -> web.Response:
        # A browser's preflight carries no credentials: answer it for admitted origins only.
        if self._admitted_origin(request) is None:
            raise Refusal(403, "origin not allowed")
        return web.Response(
            status=204,
            headers={
                hdrs.ACCESS_CONTROL_ALLOW_METHODS: "POST, OPTIONS",
                hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOWED_HEADERS,
                hdrs.ACCESS_CONTROL_MAX_AGE: "600",
            },
        )

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _sign_in_form(self, request: web.Request) -> web.Response:
        return _page(200, _SIGN_IN_FORM)

    async def _sign_in(self, request: web.Request) -> web.Response:
        body = await self._read_body(request, SIGN_IN_MAX_BYTES)
        offered = parse_qs(body.decode("utf-8", errors="replace")).get("token", [""])[0].strip()
        if not self._is_token(offered):
            return _page(401, _SIGN_IN_FORM.replace("<!--problem-->", "<p>Wrong token.</p>"))
        ui = self.ui_origins[0] if self.ui_origins else ""
        page = _page(
            200,
            _SIGNED_IN.replace("{ui}", html.escape(ui)).replace(
                "{endpoint}", html.escape(self.endpoint)
            ),
        )
        # SameSite=Strict still travels with the UI's requests: localhost ports are one site.
        # Secure under our own TLS, or when a proxy that terminates TLS says so in
        # X-Forwarded-Proto (a forged header can only make the cookie stricter).
        page.set_cookie(
            SESSION_COOKIE,
            self.sessions.issue(),
            max_age=self.sessions.lifetime_seconds,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https",
        )
        return page

    # --- checks -------------------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> None:
        """Refuses a request without the bearer token or a valid session cookie, and a
        cookie-carrying request from a browser page of an origin that is not admitted."""
        scheme, _, credential = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() == "bearer":
            if self._is_token(credential.strip()):
                return
        elif self.sessions.admits(request.cookies.get(SESSION_COOKIE, "")):
            origin = request.headers.get(hdrs.ORIGIN)
            if origin is not None and self._admitted_origin(request) is None:
                raise Refusal(403, "origin not allowed", close=True)
            return
        raise Refusal(401, "a valid bearer token or session is required", close=True)

    def _is_token(self, credential: str) -> bool:
        return bool(credential) and secrets.compare_digest(credential.encode(), self.token.encode())

    def _admitted_origin(self, request: web.Request) -> str | None:
        origin = (request.headers.get(hdrs.ORIGIN) or "").rstrip("/")
        return origin if origin in self.ui_origins else None

    async def _read_body(self, request: web.Request, limit: int) -> bytes:
        """The body, refused (and the connection closed) when it is declared or turns out
        larger than ``limit``, or does not arrive within the read timeout."""
        if (request.content_length or 0) > limit:
            raise Refusal(413, f"request body above {limit} bytes", close=True)
        body = bytearray()
        try:
            async with asyncio.timeout(self.read_timeout):
                while chunk := await request.content.readany():
                    body += chunk
                    if len(body) > limit:
                        raise Refusal(413, f"request body above {limit} bytes", close=True)
        except TimeoutError:
            raise Refusal(408, "request body not received in time", close=True) from None
        return bytes(body)

    @web.middleware
    async def _answer_in_json(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every refusal as a short JSON error, with CORS headers for an admitted origin so
        that the UI can read it. An unexpected error is logged by type only (its message
        could quote a payload)."""
        try:
            response = await handler(request)
        except Refusal as refusal:
            response = _error(refusal.status, refusal.message)
            if refusal.close:
                response.force_close()
        except web.HTTPException as refusal:  # aiohttp's own: no such route, method not allowed
            response = _error(refusal.status, refusal.reason.lower())
            if allowed := refusal.headers.get(hdrs.ALLOW):
                response.headers[hdrs.ALLOW] = allowed
        except Exception as err:
            log.error("codec server: unexpected %s answering %s", type(err).__name__, request.path)
            response = _error(500, "internal error")
            response.force_close()
        if response.status == 401:
            response.headers[hdrs.WWW_AUTHENTICATE] = 'Bearer realm="sluice-codec"'
        origin = self._admitted_origin(request)
        if origin is not None:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        response.headers[hdrs.VARY] = hdrs.ORIGIN
        response.headers[hdrs.SERVER] = "sluice-codec"  # not aiohttp's and Python's versions
        return response


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _page(status: int, page: str) -> web.Response:
    return web.Response(
        status=status,
        text=page,
        content_type="text/html",
        headers={
            hdrs.CACHE_CONTROL: "no-store",
            # The page posts a token: nothing else may load in it, and it may not be framed.
            "Content-Security-Policy": "default-src 'none'; form-action 'self'; "
            "frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


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


async def start_for_dev(settings: Settings, codec: EncryptionCodec, ui_port: int) -> CodecServer:
    """The codec server of ``worker.py --dev``, on the worker's event loop: on this machine
    only, with a token made on first run, admitting the embedded UI's origins, and without
    request lines on the worker's console."""
    token = codec_token(settings, create=True)
    # The embedded UI first: the sign-in page links to it.
    origins = [f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"]
    origins += settings.codec.ui_origins
    server = CodecServer(
        codec, token, port=settings.codec.server_port, ui_origins=origins, access_log=False
    )
    try:
        await server.start()
    except ConfigError as err:
        raise ConfigError(f"{err}; set SLUICE_CODEC_PORT or [codec] server_port") from None
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


def server_tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """The TLS context for ``--tls-cert`` and ``--tls-key`` (both or neither)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"cannot use {cert} and {key} for TLS ({err.strerror or err})") from None
    return context


async def serve(server: CodecServer, settings: Settings, codec: EncryptionCodec) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    announce(
        f"codec server on {server.endpoint} (key ring {keys_path(settings)}, "
        f"current key id '{codec.ring.current}'); UI origins: {', '.join(server.ui_origins)}"
    )
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted; every configuration problem is one line and exit code 1."""
    parser = argparse.ArgumentParser(prog="python -m sluice.codec_server", description=__doc__)
    parser.add_argument("--config", help="configuration file (default: sluice.toml)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, help="port (default: [codec] server_port, 8081)")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS: certificate chain, PEM file")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key, PEM file")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        configure_logging(settings.log_format)
        codec = codec_from_settings(settings)
        if codec is None:
            raise ConfigError("encryption is disabled (SLUICE_CODEC_DISABLED): nothing to decode")
        server = CodecServer(
            codec,
            codec_token(settings),
            host=args.host,
            port=args.port or settings.codec.server_port,
            ui_origins=settings.codec.ui_origins,
            tls=server_tls(args.tls_cert, args.tls_key),
        )
        asyncio.run(serve(server, settings, codec))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
