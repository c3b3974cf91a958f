"""People's names as the approval rules compare them: one canonical form, or a refusal.

A reviewer is matched against the allow-list, the requester who may not decide their own
run, and the reviewers who already approved (four eyes). Each comparison takes both sides
through ``canonical_name``, so ``"Alice "``, ``"ALICE"`` and ``"alice"`` are one person, and a
name that only looks like another one (a zero-width space inside it, a Cyrillic ``а`` among
Latin letters, a right-to-left override) is refused instead of being a new person.

Workflow code replays this function: a change to what it accepts or how it folds a name
changes decisions already recorded, so it needs a guarded change (see ``NAMES_PATCH`` in
``sluice.framework.process``).
"""

from __future__ import annotations

import unicodedata

MAX_NAME_LENGTH = 120

# Besides letters and ASCII digits, what names and mailbox-style ids are written with.
_PUNCTUATION = frozenset(" .-_'@+")

# Scripts that one name may mix: Japanese is written in Han, Hiragana and Katakana together.
_SCRIPT_FAMILIES = {"CJK": "HAN", "HIRAGANA": "HAN", "KATAKANA": "HAN"}


class NameRefused(ValueError):
    """A name that cannot be compared safely; the message says which character and why."""


def canonical_name(raw: str) -> str:
    """``raw`` NFKC-normalised, case-folded, trimmed and with inner spaces collapsed.

    Refuses (``NameRefused``) a blank or over-long name, invisible, control and format
    characters (zero-width, bidirectional controls), stray combining marks, symbols, and
    letters from more than one script (look-alikes such as Cyrillic ``а`` in a Latin name).
    """
    text = unicodedata.normalize("NFKC", raw)
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            raise NameRefused(f"invisible or control character {_code(char)} in a name")
    text = unicodedata.normalize("NFKC", " ".join(text.split()).casefold())
    if not text:
        raise NameRefused("a name cannot be blank")
    if len(text) > MAX_NAME_LENGTH:
        raise NameRefused(f"a name is at most {MAX_NAME_LENGTH} characters")
    scripts: set[str] = set()
    for char in text:
        if char.isalpha():
            script = unicodedata.name(char, "UNKNOWN").split(" ")[0]
            scripts.add(_SCRIPT_FAMILIES.get(script, script))
        elif not (char in _PUNCTUATION or "0" <= char <= "9"):
            raise NameRefused(f"character {_code(char)} is not allowed in a name")
    if len(scripts) > 1:
        raise NameRefused(
            f"a name mixes scripts ({', '.join(sorted(scripts))}): look-alike letters are refused"
        )
    return text


def canonical_or_none(raw: str) -> str | None:
    """The canonical form, or None for a name that can never match anyone."""
    try:
        return canonical_name(raw)
    except NameRefused:
        return None


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"
