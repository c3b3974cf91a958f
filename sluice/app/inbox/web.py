"""Web plumbing of the inbox, written once: the session cookie, CSRF checks, security headers
and the checks every form field goes through.

The cookie holds only a session id signed with the inbox's secret; what the session is (who,
how they signed in, its CSRF token) stays on the server (``accounts.py``). Every state-changing
request is a POST that carries the session's CSRF token. Pages are sent with a strict
Content-Security-Policy: scripts and styles from the inbox itself only, nothing inline.
"""

from __future__ import annotations

import hmac
import re
import secrets
from pathlib import Path

from itsdangerous import BadSignature, Signer
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sluice.app.inbox.accounts import SESSION_SECONDS, Accounts, Session
from sluice.private_files import private_file

COOKIE = "sluice_session"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "frame-src 'self'; object-src 'self'"
)
# A request body larger than this is refused before it is read: a form with a few scans.
MAX_BODY_BYTES = 32 * 2**20
# Text a person types: printable characters, line breaks and tabs; nothing that could forge
# a line in a log or hide text (terminal escapes, bidirectional controls).
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


class FormRefused(Exception):
    """A form that is not taken; the message says which field and why, safe to show."""


def secret_key(path: Path) -> bytes:
    """The inbox's cookie-signing secret, made once and kept private."""
    if not path.exists() or path.stat().st_size == 0:
        private_file(path).write_text(secrets.token_urlsafe(48), encoding="utf-8")
    return path.read_bytes().strip()


class Sessions:
    """Reads and writes the session cookie."""

    def __init__(self, accounts: Accounts, secret: bytes) -> None:
        self.accounts = accounts
        self._signer = Signer(secret, salt="sluice-inbox-session")

    def current(self, request: Request) -> Session | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            session_id = self._signer.unsign(cookie).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None
        return self.accounts.session(session_id)

    def attach(self, request: Request, response: Response, session: Session) -> None:
        """Send the cookie: HttpOnly, SameSite=Lax (an identity provider's redirect back is a
        cross-site navigation), Secure whenever the inbox is reached over TLS."""
        response.set_cookie(
            COOKIE,
            self._signer.sign(session.id.encode("ascii")).decode("ascii"),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/")


def csrf_ok(session: Session | None, form: FormData) -> bool:
    """Whether the form carries this session's CSRF token."""
    sent = form.get("csrf")
    if session is None or not isinstance(sent, str):
        return False
    return hmac.compare_digest(sent.encode(), session.csrf.encode())


def text_field(
    form: FormData, name: str, *, max_chars: int, required: bool = False, label: str = ""
) -> str | None:
    """A typed text field: stripped, within its length, free of control characters."""
    value = form.get(name)
    label = label or name.replace("_", " ")
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FormRefused(f"{label}: required")
        return None
    if not isinstance(value, str):
        raise FormRefused(f"{label}: text expected")
    value = value.replace("\r\n", "\n").strip()
    if len(value) > max_chars:
        raise FormRefused(f"{label}: at most {max_chars} characters ({len(value)} given)")
    if found := _CONTROL.search(value):
        raise FormRefused(f"{label}: control character U+{ord(found.group()):04X} is not taken")
    return value


def uploads(form: FormData, name: str) -> list[UploadFile]:
    """The files chosen in a file input (an input left empty sends none)."""
    return [item for item in form.getlist(name) if isinstance(item, UploadFile) and item.filename]


class SecurityHeaders:
    """Headers on every answer, and request bodies capped before they are read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            response = Response("request too large", status_code=413, media_type="text/plain")
            await response(scope, receive, send)
            return
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise FormRefused("request too large")
            return message

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = {
                    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"same-origin",
                    b"x-frame-options": b"DENY",
                    b"cache-control": b"no-store",
                }
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, capped, with_headers)
