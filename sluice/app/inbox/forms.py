"""Forms made from a process's input model, and what they send back.

The start form is generated from the input model's JSON schema: a field per scalar property
(nested objects by dotted name), a file input per kind of document where the model takes a
list of documents. What comes back is assembled into the same JSON a CLI user would write and
checked by the CLI's own reader, so the inbox refuses exactly what ``starter.py start``
refuses, with the same words. Uploaded documents go into the intake folder
(``sluice/intake.py``) when the model takes them by path, else inline as text.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile

from sluice.app.catalog import Process
from sluice.app.inbox.web import FormRefused, text_field, uploads
from sluice.app.inputs import CliError, check_document_paths, read_input
from sluice.config import Settings
from sluice.private_files import private_folder

# Form fields the inbox fills itself: the signed-in person is the requester.
FILLED_IN = {"requested_by", "provided_by"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Field:
    """One input of a generated form."""

    name: str
    label: str
    kind: str  # text, textarea, number, date, select, file, json
    required: bool = False
    options: list[str] = field(default_factory=list)
    help: str = ""
    max_length: int | None = None


def start_fields(process: Process) -> list[Field]:
    """The start form of ``process``, from its input model's JSON schema."""
    schema = process.input_model.model_json_schema()
    return _fields(schema, schema, prefix="")


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _resolve(root, root["$defs"][node["$ref"].rsplit("/", 1)[-1]])
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        return {**node, **_resolve(root, options[0])}
    return node


def _fields(root: dict[str, Any], schema: dict[str, Any], prefix: str) -> list[Field]:
    found = []
    required = set(schema.get("required", []))
    for name, raw in schema.get("properties", {}).items():
        if name in FILLED_IN:
            continue
        node = _resolve(root, raw)
        full = f"{prefix}{name}"
        label = node.get("title") or name.replace("_", " ")
        if node.get("type") == "object" and "properties" in node:
            found += _fields(root, node, prefix=f"{full}.")
        elif node.get("type") == "array":
            item = _resolve(root, node.get("items", {}))
            kinds = _resolve(root, item.get("properties", {}).get("kind", {})).get("enum")
            if kinds:
                found += [
                    Field(
                        name=f"{full}.{kind}",
                        label=f"{kind.replace('_', ' ')}",
                        kind="file",
                        required=name in required and bool(node.get("minItems")),
                    )
                    for kind in kinds
                ]
            else:
                # Any other list (an invoice's lines, say) is written as JSON, as in a file.
                shape = ", ".join(item.get("properties", {})) or "values"
                found.append(
                    Field(
                        full,
                        label,
                        "json",
                        name in required,
                        help=f"a JSON list, each item with: {shape}",
                    )
                )
        elif "enum" in node:
            found.append(Field(full, label, "select", name in required, list(node["enum"])))
        else:
            kind = {"integer": "number", "number": "number"}.get(node.get("type", ""), "text")
            if node.get("format") == "date":
                kind = "date"
            if (node.get("maxLength") or 0) > 1000:
                kind = "textarea"
            found.append(
                Field(
                    full,
                    label,
                    kind,
                    name in required,
                    help=node.get("description", ""),
                    max_length=node.get("maxLength"),
                )
            )
    return found


def _document_model(process: Process) -> type[BaseModel] | None:
    annotation = process.input_model.model_fields.get("documents")
    if annotation is None:
        return None
    args = getattr(annotation.annotation, "__args__", ())
    return args[0] if args and isinstance(args[0], type) else None


async def input_from(process: Process, form: FormData, settings: Settings, user: str) -> BaseModel:
    """The run's input from the start form, checked as the CLI checks an input file."""
    document: dict[str, Any] = {}
    fields = start_fields(process)
    for item in fields:
        if item.kind == "file":
            continue
        value = text_field(form, item.name, max_chars=item.max_length or 20000, label=item.name)
        if value is None:
            continue
        if item.kind == "json":
            try:
                value = json.loads(value)
            except json.JSONDecodeError as err:
                raise FormRefused(f"{item.name}: not valid JSON ({err.msg})") from None
            except RecursionError:
                raise FormRefused(f"{item.name}: nested too deeply") from None
        if item.kind == "number":
            try:
                number: Any = json.loads(value)
            except ValueError:
                raise FormRefused(f"{item.name}: '{value[:40]}' is not a number") from None
            value = number
        _put(document, item.name, value)
    if "requested_by" in process.input_model.model_fields:
        document["requested_by"] = user
    documents = []
    by_path = "path" in (_document_model(process) or BaseModel).model_fields
    for item in fields:
        if item.kind != "file":
            continue
        kind = item.name.rsplit(".", 1)[-1]
        for upload in uploads(form, item.name):
            if by_path:
                documents.append({"kind": kind, "path": await _to_intake(upload, settings, user)})
            else:
                documents.append({"kind": kind, "content": await _as_text(upload, item.label)})
    if documents:
        document["documents"] = documents
    return _checked(process, document, settings)


async def delivery_from(process: Process, form: FormData, settings: Settings, user: str) -> Any:
    """A provided document from the run page's form."""
    if process.provided_input is None:
        raise FormRefused("this process takes no documents after its start")
    kind = text_field(form, "kind", max_chars=60, required=True, label="document")
    files = uploads(form, "file")
    if not files:
        raise FormRefused("file: choose the document to send")
    path = await _to_intake(files[0], settings, user)
    try:
        delivery = process.provided_input.model_validate(
            {"provided_by": user, "kind": kind, "document": {"path": path}}
        )
        check_document_paths(delivery, settings, Path("the form"))
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:4]
        )
        raise FormRefused(problems) from None
    except CliError as err:
        raise FormRefused(str(err)) from None
    return delivery


def _put(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[last] = value


async def _as_text(upload: UploadFile, label: str) -> str:
    raw = await upload.read()
    if b"\0" in raw:
        raise FormRefused(f"{label}: binary, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise FormRefused(f"{label}: not UTF-8 text (byte {err.start})") from None


async def _to_intake(upload: UploadFile, settings: Settings, user: str) -> str:
    """Save an upload in the intake folder under a fresh name; returns its intake path."""
    documents = settings.documents
    raw = await upload.read(documents.max_bytes + 1)
    if len(raw) > documents.max_bytes:
        raise FormRefused(
            f"{upload.filename}: larger than the {documents.max_bytes // 2**20} MB allowed"
        )
    stem = _SAFE_NAME.sub("_", Path(upload.filename or "document").name).lstrip("._")[:80]
    relative = Path("inbox") / user / f"{uuid.uuid4().hex[:12]}-{stem or 'document'}"
    target = documents.intake_dir / relative
    private_folder(target.parent)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(raw)
    return str(relative)


def _checked(process: Process, document: dict[str, Any], settings: Settings) -> BaseModel:
    """``document`` through the CLI's own reader: the same checks, the same messages, with
    "the form" where the CLI names its file."""
    with tempfile.TemporaryDirectory(prefix="sluice-inbox-") as folder:
        path = Path(folder) / "form.json"
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        try:
            payload = read_input(process, path)
            check_document_paths(payload, settings, path)
        except CliError as err:
            raise FormRefused(str(err).replace(str(path), "the form")) from None
    return payload
