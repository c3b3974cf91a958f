"""Run a Sluice worker: every workflow and activity, on the configured task queue.

python worker.py                 # against TEMPORAL_ADDRESS (default localhost:7233)
python worker.py --dev           # start the embedded Temporal dev server first
python worker.py --dev --examples  # ... and start the sample runs
"""

import argparse
import asyncio
import logging
import sys

from sluice.client import TemporalUnreachable
from sluice.config import ConfigError, load_settings
from sluice.runner import ServeOptions, serve


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", help="configuration file (default: sluice.toml)")
    parser.add_argument("--dev", action="store_true", help="start the embedded dev server")
    parser.add_argument("--examples", action="store_true", help="start the sample runs")
    parser.add_argument("--port", type=int, default=7233, help="dev server gRPC port")
    parser.add_argument("--ui-port", type=int, default=8233, help="dev server Web UI port")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config)
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
