"""The connection flags of ``worker.py`` and ``starter.py``, spelled as the ``temporal`` CLI
spells them, so a command that works with ``temporal`` works with Sluice after the same
flags. A flag wins over its ``TEMPORAL_*`` variable, the variable over the temporal.toml
profile, the profile over ``[temporal]`` in ``sluice.toml``.

A CLI with subcommands adds the flags to its own parser and to every subcommand's (with
``after_subcommand=True``), so they may come before or after the subcommand.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from sluice.config import ConfigError, Settings, TemporalSettings, load_settings

log = logging.getLogger("sluice.config")

# Flags of earlier releases, read for one more: (old flag, its replacement).
DEPRECATED_FLAGS = {
    "--tls-cert": "--tls-cert-path",
    "--tls-key": "--tls-key-path",
    "--tls-ca": "--tls-ca-path",
}


class _Deprecated(argparse.Action):
    """An old flag: warns, naming the new one, and stores under the new one's name."""

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, value: Any, option: Any = None
    ) -> None:
        log.warning(
            "warning: %s is deprecated and will stop working in the next release; use %s",
            option,
            DEPRECATED_FLAGS[str(option)],
        )
        setattr(namespace, self.dest, value)


def add_connection_flags(
    parser: argparse.ArgumentParser, *, after_subcommand: bool = False
) -> None:
    """The connection flags, in their own help section. On a subcommand's parser
    (``after_subcommand``) an absent flag leaves the value given before the subcommand."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if after_subcommand else value

    group = parser.add_argument_group(
        "connection",
        "As the temporal CLI takes them. Flag > TEMPORAL_* variable > temporal.toml profile "
        "> [temporal] in sluice.toml.",
    )
    group.add_argument(
        "--profile",
        default=default(None),
        help="temporal.toml profile to use (TEMPORAL_PROFILE; default: default)",
    )
    group.add_argument(
        "--config-file",
        default=default(None),
        metavar="PATH",
        help="temporal.toml to read profiles from (TEMPORAL_CONFIG_FILE)",
    )
    group.add_argument(
        "--address",
        default=default(None),
        help="Temporal frontend host:port (TEMPORAL_ADDRESS; default localhost:7233)",
    )
    group.add_argument(
        "--namespace",
        "-n",
        default=default(None),
        help="Temporal namespace (TEMPORAL_NAMESPACE; default: default)",
    )
    group.add_argument(
        "--task-queue",
        default=default(None),
        help="Sluice's task queue (SLUICE_TASK_QUEUE; default: sluice)",
    )
    group.add_argument(
        "--api-key",
        default=default(None),
        help="API key (TEMPORAL_API_KEY); shows in the process list: prefer the variable, "
        "a profile or --api-key-file",
    )
    group.add_argument(
        "--api-key-file", default=default(None), metavar="PATH", help="file holding the API key"
    )
    group.add_argument(
        "--tls",
        action="store_true",
        default=default(False),
        help="use TLS (TEMPORAL_TLS; implied by an API key or any TLS option)",
    )
    for flag, what, variable in (
        ("cert", "client certificate (mTLS)", "TEMPORAL_TLS_CLIENT_CERT"),
        ("key", "client private key (mTLS)", "TEMPORAL_TLS_CLIENT_KEY"),
        ("ca", "server CA certificate", "TEMPORAL_TLS_SERVER_CA_CERT"),
    ):
        group.add_argument(
            f"--tls-{flag}-path",
            default=default(None),
            metavar="PATH",
            help=f"{what}, PEM file ({variable}_PATH)",
        )
        group.add_argument(
            f"--tls-{flag}-data",
            default=default(None),
            metavar="PEM",
            help=f"{what}, PEM text ({variable}_DATA)",
        )
        group.add_argument(
            f"--tls-{flag}",
            action=_Deprecated,
            dest=f"tls_{flag}_path",
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
    group.add_argument(
        "--tls-server-name",
        default=default(None),
        help="server name to verify (TEMPORAL_TLS_SERVER_NAME)",
    )
    group.add_argument(
        "--grpc-meta",
        action="append",
        default=default(None),
        metavar="KEY=VALUE",
        help="gRPC metadata for every request, repeatable (TEMPORAL_GRPC_META_<KEY>)",
    )


def settings_with_flags(args: argparse.Namespace) -> Settings:
    """Settings from ``--config`` (or sluice.toml), the environment and the profile chosen
    by ``--profile`` / ``--config-file``, with the connection flags on top."""
    settings = load_settings(
        getattr(args, "config", None),
        profile=getattr(args, "profile", None),
        temporal_config_file=getattr(args, "config_file", None),
    )
    apply_connection_flags(settings.temporal, args)
    return settings


def apply_connection_flags(temporal: TemporalSettings, args: argparse.Namespace) -> None:
    """The flags given win over everything else; files named are checked here, so a typo
    is one line naming the flag."""

    def given(name: str) -> Any:
        return getattr(args, name, None)

    temporal.address = given("address") or temporal.address
    temporal.namespace = given("namespace") or temporal.namespace
    temporal.task_queue = given("task_queue") or temporal.task_queue
    temporal.tls = bool(given("tls")) or temporal.tls
    temporal.tls_server_name = given("tls_server_name") or temporal.tls_server_name
    for flag, field in (
        ("cert", "tls_client_cert"),
        ("key", "tls_client_key"),
        ("ca", "tls_server_ca"),
    ):
        if given(f"tls_{flag}_path"):
            path = Path(given(f"tls_{flag}_path"))
            if not path.is_file():
                raise ConfigError(f"--tls-{flag}-path: {path}: no such file")
            setattr(temporal, field, path)
            setattr(temporal, f"{field}_data", None)
        if given(f"tls_{flag}_data"):
            setattr(temporal, f"{field}_data", given(f"tls_{flag}_data"))
            setattr(temporal, field, None)
    if given("api_key"):
        temporal.api_key = given("api_key")
    if given("api_key_file"):
        key_file = Path(given("api_key_file"))
        if not key_file.is_file():
            raise ConfigError(f"--api-key-file: {key_file}: no such file")
        temporal.api_key = key_file.read_text(encoding="utf-8").strip()
    for pair in given("grpc_meta") or []:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"--grpc-meta {pair!r}: write KEY=VALUE")
        temporal.grpc_meta[key.strip().lower()] = value
