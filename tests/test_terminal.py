"""What ``printable`` and ``printable_json`` do to text a run carries: every character that
could forge a line, move the cursor or reorder what is shown becomes a visible escape, and
nothing else changes."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice.terminal import printable, printable_json


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("line\nforged", "line\\nforged"),
        ("back\rover", "back\\rover"),
        ("tab\there", "tab\\there"),
        ("\x1b[2Kerased", "\\x1b[2Kerased"),  # CSI: erase the line
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # OSC: set the window title
        ("\x9b2K", "\\x9b2K"),  # C1 CSI, one character
        ("\x00\x7f", "\\x00\\x7f"),
        ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
        (
            "\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d",
            "\\u2066\\u2067\\u2068\\u2069\\u202a\\u202b\\u202c\\u202d",
        ),
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # direction marks
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("para\u2029line\u2028", "para\\u2029line\\u2028"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("bad\udcffbyte", "bad\\udcffbyte"),  # a lone surrogate would not even encode
        ("Müller, Ωmega, 中文, naïve café", "Müller, Ωmega, 中文, naïve café"),
        ("plain text: 1 + 1 = 2 \\n", "plain text: 1 + 1 = 2 \\n"),
    ],
)
def test_controls_are_shown_as_escapes_and_nothing_else_changes(text: str, shown: str) -> None:
    assert printable(text) == shown


@given(st.text())
def test_whatever_the_text_it_is_shown_on_one_line_with_nothing_for_the_terminal(
    text: str,
) -> None:
    shown = printable(text)
    # No control (C0, DEL, C1), format character (bidi, zero width), line or paragraph
    # separator, or lone surrogate is left.
    kinds = {unicodedata.category(char) for char in shown}
    assert not kinds & {"Cc", "Cf", "Zl", "Zp", "Cs"}
    assert printable(shown) == shown  # and escaping twice changes nothing more


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_stays_the_same_json_with_nothing_raw_for_the_terminal(value: object) -> None:
    for indent in (None, 2):
        shown = printable_json(json.dumps(value, ensure_ascii=False, indent=indent))
        assert json.loads(shown) == value
        assert "\u202e" not in shown and "\x9b" not in shown and "\u2028" not in shown
