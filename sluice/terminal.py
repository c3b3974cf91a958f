"""Text shown on a terminal, made safe to show.

Ids, reviewer names, comments, reasons, evidence and outcomes come from run inputs, signals
and model output: anyone who can start or signal a run chooses them. Printed as they are, a
newline or carriage return forges a line of its own ("decision: approved by alice, bob"), an
escape sequence rewrites or hides what is already on the screen, and a bidirectional control
shows text in another order than it is stored. Every text renderer passes its lines through
:func:`printable`, which shows each such character as a visible escape instead (``\\n``,
``\\x1b``, ``\\u202e``). JSON output stays JSON: :func:`printable_json` writes the same
characters as JSON escapes (JSON itself escapes only the ASCII controls).
"""

from __future__ import annotations

import shlex
import shutil
import sys
import unicodedata
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# Controls (C0, DEL, C1), format characters (bidirectional marks and overrides, zero-width
# characters), line and paragraph separators, and lone surrogates (undecodable input, which
# would also fail to encode on the way to the terminal).
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object) -> str:
    """``text`` (or ``str(text)``) with every character that could forge a line, move the
    cursor or reorder what is shown replaced by a visible escape; all else unchanged."""
    shown = str(text)
    if shown.isprintable():  # the common case: nothing to escape (a space is printable)
        return shown
    return "".join(
        _escaped(char) if unicodedata.category(char) in _UNSAFE_CATEGORIES else char
        for char in shown
    )


def printable_json(text: str) -> str:
    """JSON ``text`` with the characters JSON leaves raw (C1 controls, bidirectional and other
    format characters, line separators) written as ``\\uXXXX`` escapes: the same JSON value,
    safe on a terminal. Inside strings JSON escapes ASCII controls itself; a raw one in JSON
    text is its layout (the newlines of indentation)."""
    if text.isascii():
        return text
    return "".join(
        _json_escaped(char)
        if ord(char) >= 0x80 and unicodedata.category(char) in _UNSAFE_CATEGORIES
        else char
        for char in text
    )


def _json_escaped(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a UTF-16 surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def typed_path(path: Path | str) -> str:
    """``path`` as typed in a shell from the current folder: relative under it, absolute
    elsewhere, quoted where it needs to be."""
    path = Path(path)
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return shlex.quote(shown)


# What an installed Sluice puts on PATH, by the checkout's script each stands for.
CONSOLE_SCRIPTS = {"starter.py": "sluice", "worker.py": "sluice-worker"}
# ``python -m`` forms, for whoever started Sluice that way.
MODULES = {"starter.py": "sluice", "worker.py": "sluice.app.worker"}


def project_command(script: str) -> str:
    """How to run one of the project's commands (``starter.py``, ``worker.py``) the way the
    user ran Sluice, so a printed hint works as shown: the console scripts (``sluice``,
    ``sluice-worker``) when Sluice was started through one, ``python -m sluice`` after
    ``python -m``, and otherwise, from a checkout, this very Python and the script
    (``.venv/bin/python starter.py``): ``python`` may not exist, or be another Python
    without Sluice installed."""
    ran = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if ran is not None and ran.name in CONSOLE_SCRIPTS.values():
        name = CONSOLE_SCRIPTS[script]
        on_path = shutil.which(name)
        if on_path and Path(on_path).resolve() == (ran.parent / name).resolve():
            return name
        return typed_path(ran.parent / name)
    started_as_module = ran is not None and ran.resolve().is_relative_to(PROJECT / "sluice")
    if started_as_module or not (PROJECT / script).is_file():
        return f"{typed_path(sys.executable)} -m {MODULES[script]}"
    return f"{typed_path(sys.executable)} {typed_path(PROJECT / script)}"
