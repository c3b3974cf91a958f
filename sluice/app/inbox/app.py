"""The inbox's pages: sign in, my decisions, a decision, runs, a run, start, provide.

Each handler reads as what a person does on that page; the web plumbing (cookie, CSRF,
headers, field checks) is in ``web.py``, the Temporal side in ``desk.py``.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from temporalio.service import RPCError

from sluice.app.catalog import BY_COMMAND, Process
from sluice.app.inbox import forms
from sluice.app.inbox.accounts import Accounts, Session
from sluice.app.inbox.desk import Desk, NotVisible, Refused
from sluice.app.inbox.notices import NoticeBoard
from sluice.app.inbox.oidc import OidcSignIn
from sluice.app.inbox.web import (
    FormRefused,
    SecurityHeaders,
    Sessions,
    csrf_ok,
    text_field,
)
from sluice.config import Settings
from sluice.intake import IntakeRefusal, read_document
from sluice.search_attributes import ApprovalStatus, RiskLevel

log = logging.getLogger("sluice.inbox")

HERE = Path(__file__).resolve().parent
LOGIN_METHOD = "pwd"
# Form fields the decision form has; anything else (a "reviewer", say) is a forged form.
AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")
DECISION_FIELDS = {"csrf", "verdict", "comment", "reason", "amount", "final_text"}


@dataclass
class Inbox:
    """What every page needs."""

    settings: Settings
    accounts: Accounts
    sessions: Sessions
    desk: Desk
    templates: Jinja2Templates
    notices: NoticeBoard
    oidc: OidcSignIn | None


def templates() -> Jinja2Templates:
    # Autoescaping everywhere: every text a run carries (evidence, tickets, comments) is
    # someone else's input.
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    environment.filters["until"] = until
    environment.filters["when"] = when
    return Jinja2Templates(env=environment)


def until(moment: datetime | None, now: datetime | None = None) -> str:
    """A deadline as a countdown a person reads at a glance."""
    if moment is None:
        return "-"
    seconds = int((moment - (now or datetime.now(UTC))).total_seconds())
    late, seconds = seconds < 0, abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    span = (
        f"{days} d {hours} h" if days else f"{hours} h {minutes} min" if hours else f"{minutes} min"
    )
    return f"overdue by {span}" if late else f"in {span}"


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def create_app(inbox: Inbox) -> Starlette:
    """The ASGI application."""

    def page(
        request: Request, name: str, session: Session, status: int = 200, **context: Any
    ) -> Response:
        return inbox.templates.TemplateResponse(
            request,
            name,
            {
                "session": session,
                "processes": inbox.desk.processes_for(session.user or ""),
                **context,
            },
            status_code=status,
        )

    def signed_in(request: Request) -> Session:
        session = inbox.sessions.current(request)
        if session is None or session.user is None:
            raise HTTPException(303, headers={"Location": "/login"})
        return session

    async def checked_form(request: Request, session: Session) -> FormData:
        form = await request.form(max_files=8, max_fields=200, max_part_size=1024 * 1024)
        if not csrf_ok(session, form):
            log.warning(
                "inbox: %s sent a form without a valid CSRF token to %s",
                session.user,
                request.url.path,
            )
            raise HTTPException(
                403,
                "This form has expired or did not come from the inbox. Reload and try again.",
            )
        return form

    # --- signing in -----------------------------------------------------------------------

    async def login_page(request: Request) -> Response:
        session = inbox.sessions.current(request)
        if session is not None and session.user is not None:
            return RedirectResponse("/decisions", 303)
        session = session or inbox.accounts.new_session()
        response = inbox.templates.TemplateResponse(
            request,
            "login.html",
            {
                "session": session,
                "processes": [],
                "oidc": inbox.oidc is not None,
                "local": inbox.settings.inbox.local_accounts,
            },
        )
        inbox.sessions.attach(request, response, session)
        return response

    async def login(request: Request) -> Response:
        session = inbox.sessions.current(request)
        if session is None:
            return RedirectResponse("/login", 303)
        form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
        if not csrf_ok(session, form):
            log.warning("inbox: sign-in form without a valid CSRF token")
            raise HTTPException(403, "This form has expired. Reload the page and try again.")
        user = str(form.get("user") or "").strip().lower()[:120]
        password = str(form.get("password") or "")[:1024]
        client = request.client.host if request.client else "unknown"
        problem = None
        if not inbox.settings.inbox.local_accounts:
            problem = "Sign in with your organisation's account."
        elif inbox.accounts.locked(user, client):
            log.warning(
                "inbox: sign-in locked for %r from %s after repeated failures", user, client
            )
            problem = "Too many failed sign-ins. Wait 15 minutes and try again."
        elif not inbox.accounts.check_password(user, password):
            inbox.accounts.record_failure(user, client)
            log.warning("inbox: failed sign-in for %r from %s", user, client)
            problem = "Wrong user name or password."
        if problem:
            response = inbox.templates.TemplateResponse(
                request,
                "login.html",
                {
                    "session": session,
                    "processes": [],
                    "problem": problem,
                    "oidc": inbox.oidc is not None,
                    "local": inbox.settings.inbox.local_accounts,
                },
                status_code=401,
            )
            return response
        return sign_in(request, session, user, LOGIN_METHOD)

    def sign_in(request: Request, old: Session, user: str, method: str) -> Response:
        # A new session id at sign-in: an id planted before it (session fixation) is dead.
        inbox.accounts.end_session(old.id)
        session = inbox.accounts.new_session(user, method)
        log.info("inbox: %s signed in (%s)", user, method)
        response = RedirectResponse("/decisions", 303)
        inbox.sessions.attach(request, response, session)
        return response

    async def logout(request: Request) -> Response:
        session = signed_in(request)
        await checked_form(request, session)
        inbox.accounts.end_session(session.id)
        log.info("inbox: %s signed out", session.user)
        response = RedirectResponse("/login", 303)
        inbox.sessions.clear(response)
        return response

    async def oidc_login(request: Request) -> Response:
        if inbox.oidc is None:
            raise HTTPException(404)
        session = inbox.sessions.current(request) or inbox.accounts.new_session()
        response = RedirectResponse(await inbox.oidc.authorization_url(session.id), 303)
        inbox.sessions.attach(request, response, session)
        return response

    async def oidc_callback(request: Request) -> Response:
        session = inbox.sessions.current(request)
        if inbox.oidc is None or session is None:
            raise HTTPException(404)
        try:
            user = await inbox.oidc.reviewer_from_callback(session.id, dict(request.query_params))
        except Refused as refusal:
            log.warning("inbox: OIDC sign-in refused: %s", refusal)
            return inbox.templates.TemplateResponse(
                request,
                "login.html",
                {
                    "session": session,
                    "processes": [],
                    "problem": str(refusal),
                    "oidc": True,
                    "local": inbox.settings.inbox.local_accounts,
                },
                status_code=403,
            )
        return sign_in(request, session, user, "oidc")

    # --- my decisions ---------------------------------------------------------------------

    def filters(request: Request, session: Session) -> tuple[Process | None, str | None]:
        process = BY_COMMAND.get(request.query_params.get("process", ""))
        risk = request.query_params.get("risk")
        return process, risk if risk in {r.value for r in RiskLevel} else None

    async def decisions(request: Request) -> Response:
        session = signed_in(request)
        process, risk = filters(request, session)
        rows = await inbox.desk.waiting_for(session.user or "", process=process, risk=risk)
        partial = request.headers.get("hx-request") == "true"
        return page(
            request,
            "decision_rows.html" if partial else "decisions.html",
            session,
            rows=rows,
            chosen_process=process.command if process else "",
            chosen_risk=risk or "",
            risks=[r.value for r in RiskLevel],
            notices=inbox.notices.for_reviewer(session.user or ""),
        )

    async def decision_page(request: Request) -> Response:
        session = signed_in(request)
        view = await visible_run(request, session)
        return page(
            request,
            "decision.html",
            session,
            view=view,
            documents=documents_of(view),
            request_fields=input_fields(view),
        )

    async def decide(request: Request) -> Response:
        session = signed_in(request)
        workflow_id = request.path_params["workflow_id"]
        form = await checked_form(request, session)
        receipt = None
        problem = None
        try:
            forged = set(form.keys()) - DECISION_FIELDS
            if forged:
                log.warning(
                    "inbox: %s sent a decision with forged fields %s to %s",
                    session.user,
                    sorted(forged)[:5],
                    workflow_id,
                )
                raise FormRefused(f"unexpected fields: {', '.join(sorted(forged)[:5])}")
            verdict = form.get("verdict")
            if verdict not in ("approve", "reject"):
                raise FormRefused("choose approve or reject")
            reason = text_field(
                form, "reason", max_chars=4000, required=verdict == "reject", label="reason"
            )
            receipt = await inbox.desk.decide(
                session.user or "",
                workflow_id,
                login_method=session.login_method or LOGIN_METHOD,
                verdict=str(verdict),
                comment=text_field(form, "comment", max_chars=4000)
                if verdict == "approve"
                else None,
                reason=reason if verdict == "reject" else None,
                amount=amount_field(form) if verdict == "approve" else None,
                final_text=text_field(form, "final_text", max_chars=20000, label="reply")
                if verdict == "approve"
                else None,
            )
            log.info(
                "inbox: %s %s %s: %s",
                session.user,
                verdict,
                workflow_id,
                "accepted" if receipt.accepted else "refused",
            )
        except NotVisible:
            raise HTTPException(404, "No such run, or not one of yours.") from None
        except (FormRefused, Refused) as refusal:
            problem = str(refusal)
        view = await visible_run(request, session)
        return page(
            request,
            "decision.html",
            session,
            status=200 if receipt is not None and receipt.accepted else 422,
            view=view,
            documents=documents_of(view),
            request_fields=input_fields(view),
            receipt=receipt,
            problem=problem,
        )

    # --- runs -----------------------------------------------------------------------------

    async def runs(request: Request) -> Response:
        session = signed_in(request)
        params = request.query_params
        process = BY_COMMAND.get(params.get("process", ""))
        since = None
        if params.get("since"):
            try:
                since = datetime.fromisoformat(params["since"][:10]).replace(tzinfo=UTC)
            except ValueError:
                since = None
        rows = await inbox.desk.search(
            session.user or "",
            process=process,
            state=params.get("state") or None,
            approval=params.get("approval") or None,
            since=since,
        )
        return page(
            request,
            "runs.html",
            session,
            rows=rows,
            chosen={k: params.get(k, "") for k in ("process", "state", "approval", "since")},
            approvals=[a.value for a in ApprovalStatus],
            states=["running", "completed", "failed", "terminated", "timed_out"],
        )

    async def run_page(request: Request) -> Response:
        session = signed_in(request)
        view = await visible_run(request, session)
        partial = request.headers.get("hx-request") == "true"
        provide = view.process.provided_input is not None
        return page(
            request,
            "run_live.html" if partial else "run.html",
            session,
            view=view,
            documents=documents_of(view),
            request_fields=input_fields(view),
            provide=provide,
        )

    async def provide(request: Request) -> Response:
        session = signed_in(request)
        form = await checked_form(request, session)
        view = await visible_run(request, session)
        problem = None
        try:
            delivery = await forms.delivery_from(
                view.process, form, inbox.settings, session.user or ""
            )
            await inbox.desk.provide(session.user or "", view.status.workflow_id, delivery)
        except (FormRefused, Refused) as refusal:
            problem = str(refusal)
        if problem is None:
            return RedirectResponse(f"/runs/{view.status.workflow_id}", 303)
        return page(
            request,
            "run.html",
            session,
            status=422,
            view=view,
            documents=documents_of(view),
            request_fields=input_fields(view),
            provide=True,
            problem=problem,
        )

    async def document(request: Request) -> Response:
        """A document a run was given by path, read through the intake rules."""
        session = signed_in(request)
        view = await visible_run(request, session)
        try:
            index = int(request.path_params["index"])
            listed = documents_of(view)[index]
        except (ValueError, IndexError):
            raise HTTPException(404) from None
        if not listed.get("path"):
            raise HTTPException(404)
        documents = inbox.settings.documents
        try:
            content = read_document(documents.intake_dir, listed["path"], documents.max_bytes)
        except IntakeRefusal as refusal:
            raise HTTPException(404, str(refusal)) from None
        kind = mimetypes.guess_type(listed["path"])[0] or "text/plain"
        if kind not in ("application/pdf", "image/png", "image/jpeg", "image/webp"):
            kind = "text/plain; charset=utf-8"
        return Response(
            content,
            media_type=kind,
            headers={
                "Content-Disposition": "inline",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )

    async def visible_run(request: Request, session: Session) -> Any:
        try:
            return await inbox.desk.run(session.user or "", request.path_params["workflow_id"])
        except NotVisible:
            raise HTTPException(404, "No such run, or not one of yours.") from None
        except Refused as refusal:
            raise HTTPException(503, str(refusal)) from None

    # --- start ----------------------------------------------------------------------------

    async def start_list(request: Request) -> Response:
        session = signed_in(request)
        return page(request, "start.html", session)

    async def start_form(request: Request) -> Response:
        session = signed_in(request)
        process = startable(request, session)
        return page(
            request, "start_form.html", session, process=process, fields=forms.start_fields(process)
        )

    async def start(request: Request) -> Response:
        session = signed_in(request)
        process = startable(request, session)
        form = await checked_form(request, session)
        try:
            payload = await forms.input_from(process, form, inbox.settings, session.user or "")
            workflow_id = await inbox.desk.start(
                session.user or "",
                process,
                payload,
                login_method=session.login_method or LOGIN_METHOD,
            )
        except (FormRefused, Refused) as refusal:
            return page(
                request,
                "start_form.html",
                session,
                status=422,
                process=process,
                fields=forms.start_fields(process),
                problem=str(refusal),
                values={k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"},
            )
        return RedirectResponse(f"/runs/{workflow_id}", 303)

    def startable(request: Request, session: Session) -> Process:
        process = BY_COMMAND.get(request.path_params["process"])
        if process is None or process not in inbox.desk.processes_for(session.user or ""):
            log.warning(
                "inbox: %s refused the start form of %r",
                session.user,
                request.path_params["process"][:60],
            )
            raise HTTPException(404, "No such process, or not one you work on.")
        return process

    async def home(request: Request) -> Response:
        return RedirectResponse("/decisions", 303)

    async def error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (301, 302, 303):
            return Response(status_code=exc.status_code, headers=exc.headers)
        session = inbox.sessions.current(request)
        return inbox.templates.TemplateResponse(
            request,
            "error.html",
            {"session": session, "processes": [], "status": exc.status_code, "message": exc.detail},
            status_code=exc.status_code,
        )

    async def unreachable(request: Request, exc: Exception) -> Response:
        log.warning("inbox: Temporal did not answer %s: %s", request.url.path, exc)
        session = inbox.sessions.current(request)
        return inbox.templates.TemplateResponse(
            request,
            "error.html",
            {
                "session": session,
                "processes": [],
                "status": 503,
                "message": "The workflow service does not answer just now. Try again shortly.",
            },
            status_code=503,
        )

    async def refused_form(request: Request, exc: Exception) -> Response:
        return HTMLResponse("The request is too large.", status_code=413)

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/login", login_page),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/oidc/login", oidc_login),
            Route("/oidc/callback", oidc_callback),
            Route("/decisions", decisions),
            Route("/decisions/{workflow_id}", decision_page),
            Route("/decisions/{workflow_id}", decide, methods=["POST"]),
            Route("/runs", runs),
            Route("/runs/{workflow_id}", run_page),
            Route("/runs/{workflow_id}/provide", provide, methods=["POST"]),
            Route("/runs/{workflow_id}/documents/{index}", document),
            Route("/start", start_list),
            Route("/start/{process}", start_form),
            Route("/start/{process}", start, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        exception_handlers={
            HTTPException: error,
            FormRefused: refused_form,
            RPCError: unreachable,
        },
    )
    app.add_middleware(SecurityHeaders)
    return app


def amount_field(form: FormData) -> Decimal | None:
    """An amount as a person writes one: digits, at most two decimals, above zero."""
    text = text_field(form, "amount", max_chars=20)
    if text is None:
        return None
    if not AMOUNT.fullmatch(text) or Decimal(text) <= 0:
        raise FormRefused("amount: a positive amount with at most two decimals, like 20.00")
    return Decimal(text)


def input_fields(view: Any) -> list[tuple[str, str]]:
    """The run's input as label and text, documents aside (they have their own section)."""
    shown: list[tuple[str, str]] = []

    def walk(value: Any, label: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{label} {key}".strip())
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            shown.append((label.replace("_", " "), str(value)))

    walk({k: v for k, v in view.input.items() if k != "documents"}, "")
    return shown


def documents_of(view: Any) -> list[dict[str, Any]]:
    """The documents in the run's input, as the pages show them: text inline, files by link."""
    listed = view.input.get("documents") if isinstance(view.input, dict) else None
    shown = []
    for item in listed or []:
        if not isinstance(item, dict):
            continue
        content = item.get("content", item.get("text"))
        if isinstance(content, dict):
            content = json.dumps(content, indent=2, ensure_ascii=False)
        shown.append(
            {
                "kind": str(item.get("kind", "document")),
                "reference": item.get("reference"),
                "text": content if isinstance(content, str) else None,
                "path": item.get("path") if isinstance(item.get("path"), str) else None,
                "data_url": bool(item.get("data_url")),
            }
        )
    return shown
