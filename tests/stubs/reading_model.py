"""A Mistral stub answer for cargo document extraction that reads the document in the request
as the offline rules would, so runs through the real SDK continue exactly as offline ones."""

from __future__ import annotations

import json
from typing import Any

from activities.cargo.extraction import TASK, offline_extract
from activities.model_gateway import ModelCall


def read_like_a_model(request: dict[str, Any]) -> dict[str, Any]:
    """The offline rules' reading of the document in a chat request's user message."""
    user = next(m["content"] for m in request["messages"] if m.get("role") == "user")
    header, _, text = user.partition("\n\n")
    try:
        content: Any = json.loads(text)
    except ValueError:
        content = text
    call = ModelCall(
        task=TASK,
        prompt="extract_document",
        prompt_version="stub",
        system="",
        user=user,
        input={"kind": header.rsplit(": ", 1)[-1].strip(), "content": content},
    )
    return offline_extract(call).model_dump(mode="json")
