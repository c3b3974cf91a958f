"""Input the command line cannot take is refused with the input named, file and field or
flag, and exit code 2, before anything reaches a run: never "unexpected ...", never a
traceback, and the run waiting for a decision still waits for it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sluice.app.inputs import MAX_FINAL_TEXT_BYTES, MAX_JSON_DEPTH, CliError, parse_json
from sluice.config import Settings
from sluice.framework.process import RunStatus
from tests.conftest import example
from tests.support import ROOT, cli_environment, starter, waiting_cargo_run


def assert_named_refusal(result: subprocess.CompletedProcess[str], *names: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    for name in names:
        assert name in result.stderr


async def test_hostile_input_files_are_named_refusals(
    dev_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    shipment = example("cargo_release", "anomaly")
    nested: Any = "deep"
    for _ in range(MAX_JSON_DEPTH + 5):
        nested = {"deeper": nested}
    cases = {
        "deep.json": ("[" * 100_000 + "]" * 100_000, ["deep.json", "nested deeper than"]),
        "nested_field.json": (
            json.dumps(shipment | {"documents": [{"kind": "invoice", "content": nested}]}),
            ["nested_field.json", "documents.0.content.deeper.deeper", "nested deeper than"],
        ),
        "huge_number.json": (
            '{"n": ' + "9" * 5000 + "}",
            ["huge_number.json", "n: a number of 5000 digits"],
        ),
        "infinite.json": (
            json.dumps(shipment | {"documents": [{"kind": "invoice", "content": {"w": 1e999}}]}),
            ["infinite.json", "documents.0.content.w: Infinity"],
        ),
        "long_field.json": (
            json.dumps(shipment | {"shipper": "x" * 100_000}),
            ["long_field.json", "shipper: String should have at most 200 characters"],
        ),
        "not_utf8.json": (None, ["not_utf8.json", "not UTF-8 text"]),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes(b'{"shipper": "M\xfcller"}')
        else:
            path.write_text(text)
        refused = await starter(
            dev_env, settings, "start", "cargo-release", str(path), "--id", f"never-{name}"
        )
        assert_named_refusal(refused, *expected)
    assert [w async for w in dev_env.client.list_workflows("WorkflowId STARTS_WITH 'never-'")] == []


async def test_hostile_decision_flags_and_final_text_files_are_named_refusals(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    workflow_id = f"flags-{uuid.uuid4().hex[:8]}"
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "latin1.txt").write_bytes("Grüße".encode("latin-1"))
    with (tmp_path / "huge.txt").open("wb") as huge:
        huge.truncate(MAX_FINAL_TEXT_BYTES + 1)
    (tmp_path / "too_long.txt").write_text("x" * 30_000)
    os.mkfifo(tmp_path / "fifo")
    approve = ["approve", workflow_id, "--reviewer", "alice"]
    final_text = [*approve, "--final-text-file"]
    cases = [
        ([*final_text, str(tmp_path / "missing.txt")], ["missing.txt: no such file"]),
        ([*final_text, str(tmp_path)], ["not a regular file"]),
        ([*final_text, str(tmp_path / "fifo")], ["fifo: not a regular file"]),
        ([*final_text, str(tmp_path / "binary.txt")], ["binary.txt: binary, not text"]),
        ([*final_text, str(tmp_path / "latin1.txt")], ["latin1.txt: not UTF-8 text"]),
        ([*final_text, str(tmp_path / "huge.txt")], ["huge.txt: larger than the 1 MB"]),
        (
            [*final_text, str(tmp_path / "too_long.txt")],
            ["too_long.txt: String should have at most 20000 characters"],
        ),
        (["approve", workflow_id, "--reviewer", "a" * 500], ["--reviewer: String should have"]),
        ([*approve, "--comment", "c" * 5000], ["--comment: String should have at most 4000"]),
        (["reject", workflow_id, "--reviewer", "bob", "--reason", "r" * 5000], ["--reason"]),
    ]
    async with make_worker(dev_env.client):
        handle = await waiting_cargo_run(dev_env, settings, workflow_id)
        for args, expected in cases:
            refused = await starter(dev_env, settings, *args)
            assert_named_refusal(refused, "--", *expected)
        # Bytes that are not UTF-8 on the command line itself.
        undecodable = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "starter.py", *approve[:3], b"al\xffce"],
            cwd=ROOT,
            env=cli_environment(dev_env, settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert_named_refusal(undecodable, "--reviewer: not UTF-8 text")
        status = await handle.query("status", result_type=RunStatus)
    assert status.pending_decision is not None and status.decision is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"a": [1, {"b": ' + "9" * 40 + "}]}", "a.1.b: a number of 40 digits"),
        ('{"a": NaN}', "a: NaN is not a number"),
        ('{"a": -Infinity}', "a: -Infinity is not a number"),
        ('{"a": 1e400}', "a: 1e400 is not a number"),
        ("[" * (MAX_JSON_DEPTH + 2) + "]" * (MAX_JSON_DEPTH + 2), "nested deeper than"),
    ],
)
def test_numbers_and_nesting_no_field_takes_are_named(text: str, named: str) -> None:
    with pytest.raises(CliError) as refused:
        parse_json(Path("input.json"), text)
    assert refused.value.code == 2 and str(refused.value).startswith("input.json: ")
    assert named in str(refused.value)


def test_ordinary_json_is_read_as_it_is() -> None:
    document = parse_json(Path("input.json"), '{"a": [1, 2.5, -3, null, "x"], "b": 1e3}')
    assert document == {"a": [1, 2.5, -3, None, "x"], "b": 1000.0}
