"""The ``starter.py`` command line: start runs, decide, and inspect them.

Every failure a user can cause or meet (a bad input file, an unknown run, an unreachable
server, a decision nobody is waiting for) ends in one clear line and a non-zero exit code,
never a traceback. Input files are validated before anything is sent to Temporal.

This module is the parser and the entry point; what is read lives in ``inputs``, what is
shown in ``rendering`` (the local runner shows runs with it too), and the commands in
``commands``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from sluice import __version__, reviewers, samples
from sluice.app.catalog import BY_COMMAND, PROCESSES
from sluice.app.cli_help import (
    EXIT_FAILURE,
    EXIT_INPUT,
    EXIT_UNREACHABLE,
    add_completion_parser,
    completion_script,
    explain,
    wants_json,
)
from sluice.app.commands import COMMANDS, cmd_trace
from sluice.app.inputs import (
    CliError,
    check_document_paths,
    decision_from,
    is_utf8,
    money_amount,
    read_input,
    read_provided,
    run_id_arg,
    workflow_id_arg,
)
from sluice.app.rendering import show
from sluice.client import TemporalUnreachable, connect
from sluice.codec import codec_from_settings
from sluice.config import ConfigError
from sluice.connection_flags import add_connection_flags, settings_with_flags
from sluice.payload_store import payload_storage
from sluice.reviewers import RegistryError
from sluice.telemetry import install_telemetry
from sluice.terminal import project_command, typed_path


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise CliError(message, EXIT_INPUT)


def parser() -> argparse.ArgumentParser:
    root = _Parser(
        prog=project_command("starter.py"), description="Start, decide and inspect Sluice runs."
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    root.add_argument("--config", help="configuration file (default: sluice.toml)")
    commands = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

    start = commands.add_parser("start", help="validate an input file and start a run")
    start.add_argument("process", choices=sorted(BY_COMMAND))
    start.add_argument("file")
    start.add_argument(
        "--id", type=workflow_id_arg, help="workflow id (default: derived from the input)"
    )
    start.add_argument(
        "--wait", action="store_true", help="follow the run until it ends or waits for a person"
    )

    approve = commands.add_parser("approve", help="approve the pending decision")
    approve.add_argument("workflow_id")
    approve.add_argument("--reviewer", required=True)
    approve.add_argument("--comment")
    approve.add_argument("--final-text-file", help="the edited text to act on (support replies)")
    approve.add_argument(
        "--amount",
        type=money_amount,
        help="approve a lower amount than asked for (refunds; with the reply edited to match)",
    )

    reject = commands.add_parser("reject", help="reject the pending decision")
    reject.add_argument("workflow_id")
    reject.add_argument("--reviewer", required=True)
    reject.add_argument("--reason", required=True)

    provide = commands.add_parser(
        "provide", help="send a missing document to the run waiting for it"
    )
    provide.add_argument("workflow_id")
    provide.add_argument("file", help="JSON: what the run's status shows under FILE.json")

    pending = commands.add_parser("pending", help="runs waiting for a decision")
    pending.add_argument("--json", action="store_true")

    refresh = commands.add_parser(
        "refresh-policy", help="make running runs re-read the approval policy (revoke access)"
    )
    refresh.add_argument(
        "--domain", choices=sorted({p.domain for p in PROCESSES}), help="only this domain"
    )

    for name, text in (("status", "where a run is"), ("audit", "a run's audit trail")):
        command = commands.add_parser(name, help=text)
        command.add_argument("workflow_id")
        command.add_argument(
            "--run-id",
            type=run_id_arg,
            help="an earlier run with this workflow id (default: latest)",
        )
        command.add_argument("--json", action="store_true")
        if name == "audit":
            command.add_argument(
                "--verify", action="store_true", help="re-check every decision's signature"
            )
    add_signing_parsers(commands)
    add_init_parser(commands)
    add_completion_parser(commands)

    trace = commands.add_parser("trace", help="a run's steps, model calls and waits as a tree")
    trace.add_argument("workflow_id")
    trace.add_argument("--run-id", type=run_id_arg, help="an earlier run, drawn from its history")
    trace.add_argument("--file", help="span file (default: <data_dir>/traces/spans.jsonl)")
    # Before or after the subcommand, as with the temporal CLI.
    add_connection_flags(root)
    for name, command in commands.choices.items():
        # reviewers is handed over whole to python -m sluice.reviewers; the others connect.
        if name not in ("reviewers", "init", "completion"):
            add_connection_flags(command, after_subcommand=True)
    explain(root)
    return root


def add_init_parser(commands: Any) -> None:
    """``init``: the starter configuration and sample documents, into the current folder."""
    commands.add_parser(
        "init", help="write a starter sluice.toml (sample reviewers) and sample documents here"
    )


def cmd_init(args: argparse.Namespace) -> int:
    """Write the starter files, or say what is in the way."""
    try:
        written = samples.init(Path.cwd())
    except samples.InitRefused as err:
        raise CliError(str(err), EXIT_INPUT) from None
    show([f"wrote {typed_path(path)}" for path in written[:1]])
    show(f"wrote {len(written) - 1} sample documents into {typed_path(Path.cwd() / 'intake')}")
    show(f"next: {project_command('worker.py')} --dev --examples")
    return 0


def add_signing_parsers(commands: Any) -> None:
    """``sign approve|reject`` and ``reviewers ...`` (handed to ``python -m sluice.reviewers``)."""
    sign = commands.add_parser("sign", help="print a signed decision for the temporal CLI")
    verdicts = sign.add_subparsers(dest="verdict", required=True, parser_class=_Parser)
    approve = verdicts.add_parser("approve", help="a signed approve signal payload")
    approve.add_argument("workflow_id")
    approve.add_argument("--reviewer", required=True)
    approve.add_argument("--comment")
    approve.add_argument("--final-text-file", help="the edited text to act on (support replies)")
    approve.add_argument("--amount", type=money_amount, help="approve a lower amount (refunds)")
    reject = verdicts.add_parser("reject", help="a signed reject signal payload")
    reject.add_argument("workflow_id")
    reject.add_argument("--reviewer", required=True)
    reject.add_argument("--reason", required=True)
    keys = commands.add_parser(
        "reviewers", help="reviewers and their keys (python -m sluice.reviewers)", add_help=False
    )
    keys.add_argument("rest", nargs=argparse.REMAINDER)


async def run(argv: Sequence[str]) -> int:
    for index, value in enumerate(argv):
        if not is_utf8(value):
            # Undecodable bytes on the command line: refused before they reach a run.
            flag = argv[index - 1] if index and argv[index - 1].startswith("--") else None
            raise CliError(f"{flag or 'argument ' + value}: not UTF-8 text", EXIT_INPUT)
    args = parser().parse_args(argv)
    if args.command == "reviewers":
        return reviewers.main([*(["--config", args.config] if args.config else []), *args.rest])
    if args.command == "init":
        return cmd_init(args)
    if args.command == "completion":
        # For the installed command: a shell completes a command name, not "python starter.py".
        print(completion_script(parser(), args.shell, "sluice"), end="")
        return 0
    args.json = wants_json(args)
    settings = settings_with_flags(args)
    if args.command in ("approve", "reject"):
        args.decision = decision_from(args, args.command)
    if args.command == "start":
        # Validate before connecting: a bad file never reaches the server.
        args.payload = read_input(BY_COMMAND[args.process], Path(args.file))
        check_document_paths(args.payload, settings, Path(args.file))
    if args.command == "provide":
        args.provided = read_provided(Path(args.file))
        check_document_paths(args.provided[1], settings, Path(args.file))
    if args.command == "trace":
        return await cmd_trace(settings, args)
    # Traced, so a run's trace starts at the command that started (or decided) it.
    telemetry = install_telemetry(settings, "sluice-cli")
    client = telemetry.traced(
        await connect(
            settings.temporal,
            codec=codec_from_settings(settings),
            external_storage=payload_storage(settings),
        )
    )
    try:
        return await COMMANDS[args.command](client, settings, args)
    finally:
        telemetry.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: every expected failure is one line on stderr and an exit code."""
    try:
        return asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except CliError as err:
        show(f"error: {err}", file=sys.stderr)
        return err.code
    except TemporalUnreachable as err:
        show(f"error: {err}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (ConfigError, RegistryError) as err:
        show(f"error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted; runs on the server carry on", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``starter.py trace ID | head``): stop quietly, as CLIs do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # a bug, not a user error: still one line unless asked for more
        if os.environ.get("SLUICE_DEBUG"):
            raise
        show(
            f"error: unexpected {type(err).__name__}: {err} (SLUICE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
