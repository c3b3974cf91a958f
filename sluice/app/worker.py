"""Run a Sluice worker: every workflow and activity, on the configured task queue.

python worker.py                   # against the temporal.toml profile / TEMPORAL_ADDRESS
python worker.py --profile prod    # ... a named profile (temporal config set --profile prod)
python worker.py --dev             # start the embedded Temporal dev server first
python worker.py --dev --examples  # ... and start the sample runs
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from sluice import __version__
from sluice.app.catalog import check_sections
from sluice.app.cli_help import EXIT_FAILURE, EXIT_UNREACHABLE
from sluice.app.runner import ServeOptions, serve
from sluice.binaries import MissingBinaryError
from sluice.client import TemporalUnreachable
from sluice.config import DEFAULT_CONFIG_FILE, ConfigError
from sluice.connection_flags import add_connection_flags, settings_with_flags
from sluice.logs import configure_logging
from sluice.telemetry import sdk_metrics_config
from sluice.terminal import project_command


def parser() -> argparse.ArgumentParser:
    """The worker's flags: what to start, and the connection (shared with the CLI)."""
    worker = project_command("worker.py")
    root = argparse.ArgumentParser(
        # The usage lines as they work from here (``sluice-worker``, ``.venv/bin/python
        # worker.py``, ...).
        prog=worker,
        description=(__doc__ or "").replace("python worker.py", worker),
        formatter_class=argparse.RawTextHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    root.add_argument("--config", help="configuration file (default: sluice.toml)")
    root.add_argument("--dev", action="store_true", help="start the embedded dev server")
    root.add_argument("--examples", action="store_true", help="start the sample runs")
    root.add_argument("--port", type=int, default=7233, help="dev server gRPC port")
    root.add_argument("--ui-port", type=int, default=8233, help="dev server Web UI port")
    root.add_argument(
        "--inbox-port",
        type=int,
        help="approval inbox port with --dev (default [inbox] port, 8234; 0: no inbox)",
    )
    add_connection_flags(root)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted; every expected failure is one line and an exit code (1, or 3
    when the Temporal service cannot be reached, as for the CLI)."""
    args = parser().parse_args(argv)
    try:
        # A bad process section is refused here, in one line, before anything starts.
        settings = check_sections(settings_with_flags(args))
        if not args.config and not Path(DEFAULT_CONFIG_FILE).is_file():
            # Without one, no reviewer may decide anything: say how to get the sample one.
            print(
                f"note: no {DEFAULT_CONFIG_FILE} here; `{project_command('starter.py')} init` "
                "writes a starter configuration with the sample reviewers",
                file=sys.stderr,
            )
        configure_logging(settings.log_format, sdk_metrics=sdk_metrics_config(settings))
        options = ServeOptions(
            dev=args.dev,
            examples=args.examples,
            port=args.port,
            ui_port=args.ui_port,
            inbox_port=settings.inbox.port if args.inbox_port is None else args.inbox_port or None,
        )
        asyncio.run(serve(settings, options))
    except TemporalUnreachable as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (ConfigError, MissingBinaryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return 0


def console_main() -> None:
    """The ``sluice-worker`` command."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
