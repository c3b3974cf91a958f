"""Run a Sluice worker: every workflow and activity, on the configured task queue.

python worker.py                 # against the temporal.toml profile / TEMPORAL_ADDRESS
python worker.py --profile prod  # ... a named profile (temporal config set --profile prod ...)
python worker.py --dev           # start the embedded Temporal dev server first
python worker.py --dev --examples  # ... and start the sample runs
"""

import argparse
import asyncio
import sys

from sluice.app.runner import ServeOptions, serve
from sluice.client import TemporalUnreachable
from sluice.config import ConfigError
from sluice.connection_flags import add_connection_flags, settings_with_flags
from sluice.logs import configure_logging
from sluice.telemetry import sdk_metrics_config
from sluice.terminal import project_command


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
    add_connection_flags(parser)
    args = parser.parse_args()
    try:
        settings = settings_with_flags(args)
        configure_logging(settings.log_format, sdk_metrics=sdk_metrics_config(settings))
        options = ServeOptions(
            dev=args.dev, examples=args.examples, port=args.port, ui_port=args.ui_port
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
