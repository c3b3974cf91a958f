"""Hostile documents, one corpus per process: documents that instruct the system that reads
them, omit required fields, repeat a label with another value, or carry characters a person
cannot see. Each case says which rule must name it; every test that uses a corpus asserts
that no run of such a document ends without a person's decision."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostileDocument:
    """One document of an otherwise clean case, replaced by a hostile one."""

    name: str
    kind: str
    content: str | dict[str, object]
    # The rule whose hit must reach the person who decides.
    rule: str
