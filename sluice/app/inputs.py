"""What the command line reads: input files, flags and decisions, each checked before anything
is sent (a problem names the file and field or the flag, exit code 2)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import stat
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from sluice.app.catalog import PROCESSES
from sluice.app.cli_help import EXIT_FAILURE, EXIT_INPUT
from sluice.config import Settings
from sluice.framework import Process
from sluice.framework.approval import DecisionInput
from sluice.framework.human_input import ProvidedInput
from sluice.intake import IntakeRefusal, check_documents
from sluice.validation import validation_problems

MAX_INPUT_BYTES = 50 * 1024 * 1024


# An edited reply is at most 20,000 characters (DecisionInput): a file far larger is a mistake.
MAX_FINAL_TEXT_BYTES = 1024 * 1024


# Inputs nest a few levels (a document's fields); far deeper nesting only exhausts stacks.
MAX_JSON_DEPTH = 32


# Amounts, weights and counts: no field takes a number of more digits than this.
MAX_NUMBER_DIGITS = 30


MAX_WORKFLOW_ID_CHARS = 200


class CliError(Exception):
    """A failure to report in one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def read_text_file(path: Path, limit: int, flag: str = "") -> str:
    """A regular file's UTF-8 text, refused (exit code 2, naming the flag and file) when it is
    missing, not a regular file, unreadable, larger than ``limit`` bytes, binary or not UTF-8.
    No more than ``limit`` bytes are ever read, whatever the file claims its size is."""
    name = f"{flag} {path}" if flag else str(path)
    try:
        # Non-blocking, so a FIFO is refused below instead of waiting for a writer forever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CliError(f"{name}: no such file", EXIT_INPUT) from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise CliError(f"{name}: cannot be read ({_why(err)})", EXIT_INPUT) from None
    too_large = CliError(f"{name}: larger than the {_size(limit)} it may be", EXIT_INPUT)
    found = os.fstat(descriptor)
    if not stat.S_ISREG(found.st_mode):
        os.close(descriptor)
        raise CliError(f"{name}: not a regular file", EXIT_INPUT)
    with os.fdopen(descriptor, "rb") as opened:
        if found.st_size > limit:
            raise too_large
        try:
            raw = opened.read(limit + 1)
        except OSError as err:
            raise CliError(f"{name}: cannot be read ({_why(err)})", EXIT_INPUT) from None
    if len(raw) > limit:  # it grew since, or a file system reports no size
        raise too_large
    if (nul := raw.find(b"\0")) >= 0:
        raise CliError(f"{name}: binary, not text (NUL byte at {nul})", EXIT_INPUT)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CliError(f"{name}: not UTF-8 text (byte {err.start})", EXIT_INPUT) from None


def _why(err: Exception) -> str:
    return (err.strerror if isinstance(err, OSError) else None) or str(err)


def _size(limit: int) -> str:
    return f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit // 2**10} KB"


class _Unusable(str):
    """A JSON number or constant the parser kept as its text, to be refused with its field."""


def parse_json(path: Path, text: str) -> Any:
    """The JSON document in ``text``, refused with the file (and field, where there is one)
    when it is not JSON, nests deeper than anything we take, or holds a number no field
    takes: more than ``MAX_NUMBER_DIGITS`` digits, not finite, NaN."""
    try:
        document = json.loads(
            text,
            parse_int=lambda d: _Unusable(d) if len(d.lstrip("-")) > MAX_NUMBER_DIGITS else int(d),
            parse_float=lambda d: _Unusable(d) if not math.isfinite(float(d)) else float(d),
            parse_constant=_Unusable,
        )
    except json.JSONDecodeError as err:
        raise CliError(
            f"{path}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
            EXIT_INPUT,
        ) from None
    except RecursionError:
        raise CliError(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels", EXIT_INPUT) from None
    # Walked without recursion: the point is to refuse what would exhaust the stack later.
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while stack:
        value, where = stack.pop()
        field = ".".join(where) or "(top level)"
        if len(where) > MAX_JSON_DEPTH:
            raise CliError(
                f"{path}: {field}: nested deeper than {MAX_JSON_DEPTH} levels", EXIT_INPUT
            )
        if isinstance(value, _Unusable):
            digits = len(value.lstrip("-"))
            shown = value if len(value) <= 20 else f"a number of {digits} digits"
            raise CliError(
                f"{path}: {field}: {shown} is not a number any field takes (finite, at most "
                f"{MAX_NUMBER_DIGITS} digits)",
                EXIT_INPUT,
            )
        if isinstance(value, dict):
            stack += [(item, (*where, str(key))) for key, item in value.items()]
        elif isinstance(value, list):
            stack += [(item, (*where, str(index))) for index, item in enumerate(value)]
    return document


def read_input(process: Process, path: Path) -> BaseModel:
    """Load and validate an input file, naming the file and field on any problem."""
    document = parse_json(path, read_text_file(path, MAX_INPUT_BYTES))
    try:
        return process.input_model.model_validate(document)
    except ValidationError as err:
        problems = validation_problems(err, whole="(top level)", limit=8)
        raise CliError(
            f"{path}: not a valid {process.command} input: {problems}", EXIT_INPUT
        ) from None


def check_document_paths(payload: BaseModel, settings: Settings, path: Path) -> None:
    """Refuse a document path the worker would refuse (it checks again), before any run."""
    documents = settings.documents
    try:
        check_documents(payload, documents.intake_dir, documents.max_bytes)
    except IntakeRefusal as refusal:
        raise CliError(f"{path}: {refusal}", EXIT_INPUT) from None


def workflow_id_arg(text: str) -> str:
    """A workflow id chosen on the command line: one that shows as typed, in every listing."""
    if not 1 <= len(text) <= MAX_WORKFLOW_ID_CHARS or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"a workflow id is 1 to {MAX_WORKFLOW_ID_CHARS} printable characters"
        )
    return text


def run_id_arg(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a run id (a UUID, as `status` shows under run:)"
        ) from None


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decision_from(args: argparse.Namespace, verdict: str) -> DecisionInput:
    """The decision the command line asks for, checked before anything is sent: each problem
    named by the flag (and file) it came from, exit code 2."""
    final_text_file = getattr(args, "final_text_file", None)
    flags = {
        "reviewer": "--reviewer",
        "comment": "--comment",
        "reason": "--reason",
        "final_text": f"--final-text-file {final_text_file}",
        "amount": "--amount",
    }
    try:
        return DecisionInput(
            verdict=verdict,
            reviewer=args.reviewer,
            comment=getattr(args, "comment", None),
            reason=getattr(args, "reason", None),
            final_text=(
                read_text_file(Path(final_text_file), MAX_FINAL_TEXT_BYTES, "--final-text-file")
                if final_text_file
                else None
            ),
            amount=getattr(args, "amount", None),
        )
    except ValidationError as err:
        problems = [
            f"{flags.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else args.command}: {e['msg']}"
            for e in err.errors()
        ]
        raise CliError("; ".join(problems), EXIT_INPUT) from None


def money_amount(text: str) -> Decimal:
    """A positive money amount with at most two decimals, as typed on the command line."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"'{text}' is not an amount, e.g. 19.95") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a positive amount with at most two decimals"
        )
    return amount


def read_provided(path: Path) -> tuple[Process, ProvidedInput]:
    """Load and validate a file for ``provide``, against each process that takes one."""
    refusal: CliError | None = None
    for process in PROCESSES:
        if process.provided_input is None:
            continue
        as_input = dataclasses.replace(
            process, input_model=process.provided_input, command=f"{process.command} provide"
        )
        try:
            return process, cast(ProvidedInput, read_input(as_input, path))
        except CliError as err:
            refusal = refusal or err
    raise refusal or CliError("no process takes provided input", EXIT_INPUT)
