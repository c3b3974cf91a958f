"""``python -m sluice.app.inbox``: serve the inbox; ``add-user``: create or reset a local account.

python -m sluice.app.inbox                   # serve on [inbox] host:port against TEMPORAL_ADDRESS
python -m sluice.app.inbox add-user carol    # asks for the password twice
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import signal
import sys
from collections.abc import Sequence

from sluice.app.inbox.accounts import AccountError
from sluice.app.inbox.server import accounts, start_inbox
from sluice.client import TemporalUnreachable, connect
from sluice.codec import codec_from_settings
from sluice.config import ConfigError, Settings, load_settings
from sluice.logs import configure_logging
from sluice.payload_store import payload_storage


async def serve(settings: Settings) -> None:
    client = await connect(
        settings.temporal,
        codec=codec_from_settings(settings),
        external_storage=payload_storage(settings),
    )
    inbox = await start_inbox(settings, client)
    print(f"Sluice inbox: {inbox.url} (Ctrl-C stops it)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await inbox.stop()


def add_user(settings: Settings, user: str, reset: bool, from_stdin: bool) -> int:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"new password for {user}: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 1
    accounts(settings).add_user(user, password, replace=reset)
    print(f"{user}: {'password set' if reset else 'account created'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sluice.app.inbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="configuration file (default: sluice.toml)")
    commands = parser.add_subparsers(dest="command")
    add = commands.add_parser("add-user", help="create a local account (a reviewer id)")
    add.add_argument("user")
    add.add_argument("--reset", action="store_true", help="set a new password for an existing one")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        configure_logging(settings.log_format)
        if args.command == "add-user":
            return add_user(settings, args.user, args.reset, args.password_stdin)
        asyncio.run(serve(settings))
    except (ConfigError, TemporalUnreachable, AccountError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
