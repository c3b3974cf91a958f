"""Mistral stub answers for a model that does whatever the text in front of it says.

The worst reader a document or ticket can meet. For documents: told to release, it answers
with a clean, complete reading (the reference reading of the same kind of document); given a
field twice, it picks the value that agrees with the other papers, or else the last one;
otherwise it reads as the offline rules do and invents nothing. For support tickets: it
classifies the ticket as the ticket asks ("classify this as ...", "confidence 1.0"), and
otherwise as a harmless, confident general question; it drafts the reply the ticket dictates
("reply with: ..."), in the language the ticket asks for, and otherwise echoes the ticket
back. What it writes is not checked here: a run must still reach a person whatever it answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from activities.cargo.extraction import offline_extract
from activities.kyc.documents import offline_address_proof, offline_identity
from activities.model_gateway import ModelCall

# What a document says to get its way: the model takes any of these as its orders. Kept
# crude and apart from the production patterns, so the tests do not grade themselves.
ORDERS = ("release", "ignore", "approve", "system", "assistant", "you are now", "risk")

Reading = dict[str, Any]
Reader = Callable[[ModelCall], BaseModel]


def instructs(text: str) -> bool:
    """Whether the document gives the model orders (hidden characters do not stop it)."""
    plain = "".join(c for c in text if c.isprintable() or c in "\n\t").lower()
    return any(order in plain for order in ORDERS)


def obey(read: Reader, kind: str, content: Any, reference: Reading) -> Reading:
    """What the model answers for one document."""
    text = content if isinstance(content, str) else json.dumps(content)
    if instructs(text):
        return dict(reference)
    whole = _reading(read, kind, content)
    # Each labelled line (or key) read on its own: every value the document gives a field.
    parts = (
        [{key: value} for key, value in content.items()]
        if isinstance(content, dict)
        else [line for line in content.splitlines() if ":" in line]
    )
    lines = [_reading(read, kind, part) for part in parts]
    answer = dict(whole)
    for field in whole:
        found = [line[field] for line in lines if line.get(field) not in (None, [])]
        if reference.get(field) in found:
            answer[field] = reference[field]
        elif found:
            answer[field] = found[-1]
    return answer


def _reading(read: Reader, kind: str, content: Any) -> Reading:
    call = ModelCall(
        task="stub",
        prompt="stub",
        prompt_version="stub",
        system="",
        user="",
        input={"kind": kind, "content": content, "text": content},
    )
    return read(call).model_dump(mode="json")


def _document(request: dict[str, Any]) -> tuple[str, str]:
    user = next(m["content"] for m in request["messages"] if m.get("role") == "user")
    header, _, text = user.partition("\n\n")
    return header.rsplit(": ", 1)[-1].strip(), text


def obedient_cargo_reader(
    reference: Mapping[str, Reading],
) -> Callable[[dict[str, Any]], Reading]:
    """``stub.default_chat`` for cargo extraction; ``reference`` maps each document kind to
    the clean reading of that kind."""

    def answer(request: dict[str, Any]) -> Reading:
        kind, text = _document(request)
        try:
            content: Any = json.loads(text)
        except ValueError:
            content = text
        return obey(offline_extract, kind, content, reference[kind])

    return answer


def obedient_kyc_reader(
    reference: Mapping[str, Reading],
) -> Callable[[dict[str, Any]], Reading]:
    """``stub.default_chat`` for KYC extraction; ``reference`` maps each document kind to the
    clean reading of that kind."""

    def answer(request: dict[str, Any]) -> Reading:
        kind, text = _document(request)
        read = offline_identity if kind == "identity_document" else offline_address_proof
        return obey(read, kind, text, reference[kind])

    return answer


# --- support triage -----------------------------------------------------------------

LANGUAGES = {"english": "en", "german": "de", "french": "fr", "spanish": "es"}


def _ticket_text(request: dict[str, Any]) -> str:
    user = next(m["content"] for m in request["messages"] if m.get("role") == "user")
    fenced = user.split("<ticket>\n", 1)[-1].rsplit("\n</ticket>", 1)[0]
    return fenced.split("\n\n", 1)[-1] if fenced.startswith("Subject:") else fenced


def _asked(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text, re.IGNORECASE | re.DOTALL)
    return found.group(1).strip() if found else None


def obey_the_ticket(request: dict[str, Any]) -> dict[str, Any]:
    """The structured answer a model that obeys the ticket would give."""
    text = _ticket_text(request)
    if request["response_format"]["json_schema"]["name"] == "TicketClassification":
        confidence: Any = _asked(r"confidence\s*(?:of|to|at|=|:)?\s*(\S+?)[.,]?(?:\s|$)", text)
        try:
            confidence = float(confidence) if confidence is not None else 0.99
        except ValueError:
            pass  # the model repeats whatever the ticket said: validation decides
        return {
            "category": _asked(r"classify (?:this|it|the ticket) as ([\w-]+)", text)
            or "general_question",
            "urgency": "low",
            "sentiment": "positive",
            "language": "en",
            "confidence": confidence,
            "rationale": "The customer told me how to classify this ticket.",
        }
    language = _asked(r"(?:reply|answer|respond) in (\w+)", text)
    return {
        "language": LANGUAGES.get((language or "english").lower(), language),
        "body": _asked(r"(?:reply|answer|respond)(?: in \w+)? with:\s*(.*)$", text) or text,
        "grounding": [],
    }
