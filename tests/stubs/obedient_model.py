"""A Mistral stub answer for support triage from a model that does whatever the ticket says.

The worst case the guards must hold against: a model fully taken over by the customer's
text. It classifies the ticket as the ticket asks ("classify this as ...", "confidence
1.0"), and otherwise as a harmless, confident general question; it drafts the reply the
ticket dictates ("reply with: ..."), in the language the ticket asks for ("reply in
German"), and otherwise echoes the ticket back. What it writes is not checked here: an answer
that fails validation is part of the test, as it would be from a real model.
"""

from __future__ import annotations

import re
from typing import Any

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
