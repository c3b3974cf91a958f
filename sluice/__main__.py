"""``python -m sluice``: the command line (what the ``sluice`` command and ``starter.py`` run)."""

import os
import sys

from sluice.app.cli import main as cli_main


def main() -> None:
    """Run the CLI and leave with its exit code."""
    code = cli_main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the SDK's native runtime threads can crash while Python
    # finalises after an answered request, turning a clean exit code into a segfault.
    os._exit(code)


if __name__ == "__main__":
    main()
