"""Who may sign in to the inbox, and who is signed in: local accounts and sessions in SQLite.

Passwords are kept as argon2id hashes only. A session is a random id in a signed cookie, its
state (who, how they signed in, the CSRF token, when it ends) here on the server, so signing
out ends it for good and signing in always starts a new one (no session fixation). Failed
sign-ins are counted per account and per client address, and a burst of them locks sign-in
for that account or address for a while. The file is private (``sluice/private_files.py``).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sluice.private_files import private_database
from sluice.reviewers import REVIEWER_ID

# How long a session lasts after sign-in, whatever happens in it, and without any request.
SESSION_SECONDS = 8 * 3600
IDLE_SECONDS = 3600
# Five wrong passwords for one account within 15 minutes lock it for what is left of those 15
# minutes: slow enough to stop guessing, short enough for a typo. An address gets more (an
# office behind one proxy shares it), enough to stop one machine trying many accounts.
FAILURE_WINDOW_SECONDS = 15 * 60
FAILURES_ALLOWED = 5
ADDRESS_FAILURES_ALLOWED = 50
MIN_PASSWORD_CHARS = 12

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user TEXT, login_method TEXT, csrf TEXT NOT NULL,
    created_at REAL NOT NULL, seen_at REAL NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS failures (who TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failures_who ON failures (who, at);
"""


class AccountError(Exception):
    """A user or password that cannot be taken; the message says why."""


@dataclass(frozen=True)
class Session:
    """One browser's session: anonymous (``user`` None) until sign-in."""

    id: str
    csrf: str
    user: str | None = None
    login_method: str | None = None


class Accounts:
    """Local users, sessions and failed sign-ins, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = private_database(path)
        self._hasher = PasswordHasher()
        # Verifying against this when the user is unknown takes as long as a real check, so
        # the time of an answer does not tell which user names exist.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    # --- users ---------------------------------------------------------------------------

    def add_user(self, user: str, password: str, *, replace: bool = False) -> None:
        """Create ``user`` (a reviewer id) with ``password``, or set a new one."""
        if not REVIEWER_ID.match(user):
            raise AccountError(
                f"'{user[:64]}': a user is a reviewer id (lower-case letters, digits, . _ -)"
            )
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountError(f"a password has at least {MIN_PASSWORD_CHARS} characters")
        digest = self._hasher.hash(password)
        with self._db() as db:
            if replace:
                db.execute(
                    "INSERT INTO users VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                    "password_hash = excluded.password_hash",
                    (user, digest, time.time()),
                )
            else:
                try:
                    db.execute("INSERT INTO users VALUES (?, ?, ?)", (user, digest, time.time()))
                except sqlite3.IntegrityError:
                    raise AccountError(
                        f"{user} exists already (--reset sets a new password)"
                    ) from None

    def users(self) -> list[str]:
        with self._db() as db:
            return [row[0] for row in db.execute("SELECT id FROM users ORDER BY id")]

    def ensure_demo_users(self, names: Iterable[str]) -> dict[str, str]:
        """Accounts for the demo reviewers that have none yet, with one-time passwords:
        returned once, to be printed, and stored only as hashes."""
        existing = set(self.users())
        created = {}
        for name in names:
            if name not in existing:
                password = secrets.token_urlsafe(12)
                self.add_user(name, password)
                created[name] = password
        return created

    def check_password(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s (slow on purpose, like every argon2 check)."""
        with self._db() as db:
            row = db.execute("SELECT password_hash FROM users WHERE id = ?", (user,)).fetchone()
        try:
            return self._hasher.verify(row[0] if row else self._dummy, password) and bool(row)
        except (VerificationError, InvalidHashError):
            return False

    # --- failed sign-ins -----------------------------------------------------------------

    def locked(self, user: str, address: str) -> bool:
        """Whether this account, or this client address, failed too often lately."""
        since = time.time() - FAILURE_WINDOW_SECONDS
        with self._db() as db:
            for key, allowed in (
                (f"user:{user}", FAILURES_ALLOWED),
                (f"address:{address}", ADDRESS_FAILURES_ALLOWED),
            ):
                (count,) = db.execute(
                    "SELECT COUNT(*) FROM failures WHERE who = ? AND at > ?", (key, since)
                ).fetchone()
                if count >= allowed:
                    return True
        return False

    def record_failure(self, user: str, address: str) -> None:
        now = time.time()
        who = (f"user:{user}", f"address:{address}")
        with self._db() as db:
            db.executemany("INSERT INTO failures VALUES (?, ?)", [(key, now) for key in who])
            db.execute("DELETE FROM failures WHERE at < ?", (now - FAILURE_WINDOW_SECONDS,))

    # --- sessions ------------------------------------------------------------------------

    def new_session(self, user: str | None = None, login_method: str | None = None) -> Session:
        """A fresh session with a fresh id and CSRF token."""
        now = time.time()
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            user=user,
            login_method=login_method,
        )
        with self._db() as db:
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session.id, user, login_method, session.csrf, now, now, now + SESSION_SECONDS),
            )
            db.execute(
                "DELETE FROM sessions WHERE expires_at < ? OR seen_at < ?",
                (now, now - IDLE_SECONDS),
            )
        return session

    def session(self, session_id: str) -> Session | None:
        """The live session with this id, if there is one; it counts as seen now."""
        now = time.time()
        with self._db() as db:
            row = db.execute(
                "SELECT id, csrf, user, login_method FROM sessions "
                "WHERE id = ? AND expires_at > ? AND seen_at > ?",
                (session_id, now, now - IDLE_SECONDS),
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE sessions SET seen_at = ? WHERE id = ?", (now, session_id))
        return Session(id=row[0], csrf=row[1], user=row[2], login_method=row[3])

    def end_session(self, session_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
