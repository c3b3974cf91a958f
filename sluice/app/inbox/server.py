"""Putting the inbox together: its keys, accounts and the uvicorn server.

The inbox signs decisions as an attesting service. Its private key lives in
``{data_dir}/inbox/service.key`` (or ``[inbox] service_key_file``); the registry must list the
service and trust it for the reviewers who use the inbox. ``demo_setup`` does all of it for
the embedded default; in production: ``python -m sluice.reviewers add-service inbox
--key-file FILE`` and ``python -m sluice.reviewers add ID --issuer inbox``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from temporalio.client import Client

from activities.connectors.reviewer_notices import reviewer_notices_file
from sluice.app.inbox.accounts import Accounts
from sluice.app.inbox.app import Inbox, create_app, templates
from sluice.app.inbox.desk import Desk
from sluice.app.inbox.notices import NoticeBoard
from sluice.app.inbox.oidc import OidcSignIn
from sluice.app.inbox.web import Sessions, secret_key
from sluice.config import ConfigError, Settings
from sluice.reviewers import (
    SAMPLE_REVIEWERS,
    AttestingService,
    RegistryError,
    ensure_sample_reviewers,
    load_registry,
    new_key_pair,
    save_registry,
)
from sluice.signing import Signer, service_signer


def folder(settings: Settings) -> Path:
    return settings.data_dir / "inbox"


def service_key_file(settings: Settings) -> Path:
    return settings.inbox.service_key_file or folder(settings) / "service.key"


def accounts(settings: Settings) -> Accounts:
    return Accounts(folder(settings) / "accounts.sqlite3")


def inbox_signer(settings: Settings) -> Signer:
    """The inbox's service key, checked against the registry."""
    service = settings.inbox.service_id
    path = service_key_file(settings)
    registry = load_registry(settings.reviewer_registry_file)
    registered = registry.services.get(service)
    if not path.exists() or registered is None:
        raise ConfigError(
            f"the inbox has no registered service key ({path}): python -m sluice.reviewers "
            f"add-service {service} --key-file {path}, then trust it for each reviewer with "
            f"python -m sluice.reviewers add ID --issuer {service}"
        )
    try:
        signer = service_signer(path, service, "pwd")
    except RegistryError as err:
        raise ConfigError(str(err)) from None
    if signer.kid not in {key.kid for key in registered.keys}:
        raise ConfigError(f"{path}: key {signer.kid} is not registered for service {service}")
    return signer


def demo_setup(settings: Settings, reviewers: list[str]) -> dict[str, str]:
    """The embedded default: sample reviewers' keys, the inbox's service key trusted for
    them, and local accounts with one-time passwords (returned once, to be printed)."""
    registry_file = settings.reviewer_registry_file
    ensure_sample_reviewers(settings.data_dir, registry_file, reviewers)
    service = settings.inbox.service_id
    registry = load_registry(registry_file)
    path = service_key_file(settings)
    if service not in registry.services or not path.exists():
        if path.exists():
            path.unlink()  # an orphan of an interrupted first run: replaced, never reused
        key = new_key_pair(path)
        services = {
            **registry.services,
            service: AttestingService(id=service, name="Approval inbox", keys=[key]),
        }
        registry = registry.model_copy(update={"services": services})
    people = {*SAMPLE_REVIEWERS, *reviewers}
    updated = {
        rid: r.model_copy(update={"issuers": sorted({*r.issuers, service})})
        for rid, r in registry.reviewers.items()
        if rid in people and service not in r.issuers
    }
    if updated or service not in load_registry(registry_file).services:
        registry = registry.model_copy(update={"reviewers": {**registry.reviewers, **updated}})
        save_registry(registry_file, registry)
    return accounts(settings).ensure_demo_users(sorted(SAMPLE_REVIEWERS))


def build_inbox(settings: Settings, client: Client) -> Inbox:
    """The inbox for ``settings``, talking to Temporal through ``client``."""
    store = accounts(settings)
    oidc = settings.inbox.oidc
    return Inbox(
        settings=settings,
        accounts=store,
        sessions=Sessions(store, secret_key(folder(settings) / "secret")),
        desk=Desk(client, settings, inbox_signer(settings)),
        templates=templates(),
        notices=NoticeBoard(reviewer_notices_file(settings)),
        oidc=OidcSignIn(settings) if oidc.issuer and oidc.client_id else None,
    )


class _Server(uvicorn.Server):
    """uvicorn, leaving the process's signals to whoever started it (the worker, or
    ``python -m sluice.app.inbox``): the inbox stops when told to."""

    def capture_signals(self) -> contextlib.nullcontext[None]:  # type: ignore[override]
        return contextlib.nullcontext()


@dataclass
class RunningInbox:
    """A started inbox: its address, and how to stop it."""

    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_inbox(
    settings: Settings, client: Client, *, port: int | None = None
) -> RunningInbox:
    """Serve the inbox on this event loop; returns once it listens."""
    app = create_app(build_inbox(settings, client))
    config = uvicorn.Config(
        app,
        host=settings.inbox.host,
        port=settings.inbox.port if port is None else port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise ConfigError(f"the inbox did not start on {settings.inbox.host}:{config.port}")
        await asyncio.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    host = "localhost" if settings.inbox.host in ("127.0.0.1", "0.0.0.0") else settings.inbox.host
    return RunningInbox(url=f"http://{host}:{bound}", server=server, task=task)
