"""Run a Sluice worker: every workflow and activity, on the configured task queue.

python worker.py                 # against TEMPORAL_ADDRESS (default localhost:7233)
python worker.py --dev           # start the embedded Temporal dev server first
python worker.py --dev --examples  # ... and start the sample runs
"""

import argparse
import asyncio
import sys
from pathlib import Path

from sluice.app.catalog import check_sections
from sluice.app.runner import ServeOptions, serve
from sluice.client import TemporalUnreachable
from sluice.config import ConfigError, Settings, load_settings
from sluice.logs import configure_logging
from sluice.terminal import project_command


def apply_connection_flags(settings: Settings, args: argparse.Namespace) -> None:
    """Flags win over the file and the environment. The API key is read from a file so it
    never shows in the process list."""
    temporal = settings.temporal
    temporal.address = args.address or temporal.address
    temporal.namespace = args.namespace or temporal.namespace
    temporal.task_queue = args.task_queue or temporal.task_queue
    temporal.tls = args.tls or temporal.tls
    for flag, field in (
        ("tls_cert", "tls_client_cert"),
        ("tls_key", "tls_client_key"),
        ("tls_ca", "tls_server_ca"),
    ):
        if getattr(args, flag):
            path = Path(getattr(args, flag))
            if not path.is_file():
                raise ConfigError(f"--{flag.replace('_', '-')}: {path}: no such file")
            setattr(temporal, field, path)
    temporal.tls_server_name = args.tls_server_name or temporal.tls_server_name
    if args.api_key_file:
        key_file = Path(args.api_key_file)
        if not key_file.is_file():
            raise ConfigError(f"--api-key-file: {key_file}: no such file")
        temporal.api_key = key_file.read_text(encoding="utf-8").strip()


def main() -> int:
    parser = argparse.ArgumentParser(
        # The usage lines as they work from here (``.venv/bin/python worker.py``).
        description=(__doc__ or "").replace("python worker.py", project_command("worker.py")),
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--config", help="configuration file (default: sluice.toml)")
    parser.add_argument("--dev", action="store_true", help="start the embedded dev server")
    parser.add_argument("--examples", action="store_true", help="start the sample runs")
    parser.add_argument("--port", type=int, default=7233, help="dev server gRPC port")
    parser.add_argument("--ui-port", type=int, default=8233, help="dev server Web UI port")
    parser.add_argument(
        "--inbox-port",
        type=int,
        help="approval inbox port with --dev (default [inbox] port, 8234; 0: no inbox)",
    )
    connection = parser.add_argument_group("connection (override TEMPORAL_* variables)")
    connection.add_argument("--address", help="Temporal frontend host:port")
    connection.add_argument("--namespace")
    connection.add_argument("--task-queue")
    connection.add_argument("--tls", action="store_true", help="use TLS (implied by the rest)")
    connection.add_argument("--tls-cert", help="client certificate (mTLS), PEM file")
    connection.add_argument("--tls-key", help="client private key (mTLS), PEM file")
    connection.add_argument("--tls-ca", help="server CA certificate, PEM file")
    connection.add_argument("--tls-server-name", help="server name to verify")
    connection.add_argument("--api-key-file", help="file holding a Temporal Cloud API key")
    args = parser.parse_args()
    try:
        settings = check_sections(load_settings(args.config))
        apply_connection_flags(settings, args)
        configure_logging(settings.log_format)
        options = ServeOptions(
            dev=args.dev,
            examples=args.examples,
            port=args.port,
            ui_port=args.ui_port,
            inbox_port=settings.inbox.port if args.inbox_port is None else args.inbox_port or None,
        )
        asyncio.run(serve(settings, options))
    except (ConfigError, TemporalUnreachable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
