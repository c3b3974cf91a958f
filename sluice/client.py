"""Connect a Temporal client from settings: local dev server, self-hosted cluster with
mTLS, or a hosted namespace with an API key. Every client gets Sluice's data converter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter, ExternalStorage, PayloadCodec
from temporalio.service import TLSConfig

from sluice.config import ConfigError, TemporalSettings
from sluice.converter import sluice_data_converter

# How long a connection waits for a server that is up but not serving yet.
STARTING_SERVER_SECONDS = 30


class TemporalUnreachable(Exception):
    """The Temporal service could not be reached at the configured address."""


def tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    """TLS from settings: mTLS when a client certificate is given, plain TLS when asked for
    or when an API key is used (hosted namespaces require it), otherwise none."""
    cert = _pem(settings.tls_client_cert, settings.tls_client_cert_data, "CLIENT_CERT")
    key = _pem(settings.tls_client_key, settings.tls_client_key_data, "CLIENT_KEY")
    ca = _pem(settings.tls_server_ca, settings.tls_server_ca_data, "SERVER_CA_CERT")
    if cert or key or ca or settings.tls_server_name:
        if bool(cert) != bool(key):
            raise ConfigError(
                "mTLS needs both a client certificate and its key "
                "(TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or _DATA)"
            )
        return TLSConfig(
            client_cert=cert,
            client_private_key=key,
            server_root_ca_cert=ca,
            domain=settings.tls_server_name,
        )
    return bool(settings.tls or settings.api_key)


def _pem(path: Path | None, inline: str | None, name: str) -> bytes | None:
    """A certificate or key from its file, or as given inline."""
    if inline:
        return inline.encode()
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(f"TEMPORAL_TLS_{name}_PATH: {path}: {err.strerror or err}") from None


async def connect(
    settings: TemporalSettings,
    *,
    data_converter: DataConverter | None = None,
    codec: PayloadCodec | None = None,
    interceptors: Sequence[Interceptor] = (),
    external_storage: ExternalStorage | None = None,
) -> Client:
    """A connected client, or TemporalUnreachable with the address in the message.
    ``codec`` (see ``sluice.codec.codec_from_settings``) encrypts its payloads;
    ``external_storage`` (see ``sluice.payload_store.payload_storage``) holds large ones."""
    # A server that has just started answers "Frontend is not healthy yet" for a moment (a
    # worker started beside it, a compose stack coming up): wait for it, within bounds.
    deadline = time.monotonic() + STARTING_SERVER_SECONDS
    while True:
        try:
            return await Client.connect(
                settings.address,
                namespace=settings.namespace,
                api_key=settings.api_key,
                tls=tls_config(settings),
                rpc_metadata=settings.grpc_meta,
                data_converter=data_converter or sluice_data_converter(codec, external_storage),
                interceptors=interceptors,
            )
        except RuntimeError as err:
            if "not healthy yet" in str(err) and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                continue
            profile = f", profile {settings.profile}" if settings.profile else ""
            raise TemporalUnreachable(
                f"cannot reach Temporal at {settings.address} (namespace {settings.namespace}"
                f"{profile}): {_reason(str(err))}"
            ) from err


def _reason(message: str) -> str:
    """The part of a connection error a person can act on."""
    lowered = message.lower()
    for needle, reason in (
        ("connection refused", "connection refused (is the server running?)"),
        ("dns error", "unknown host"),
        ("timed out", "timed out"),
        ("certificate", "TLS certificate problem"),
        ("unauthenticated", "not authenticated (check the API key or client certificate)"),
    ):
        if needle in lowered:
            return reason
    return message.splitlines()[0][:200]
