"""The command line explains itself and says what happened in its exit code: every
subcommand's --help has a description, explained arguments and examples; --version; -o json
on every command; a completion script; and distinct exit codes for bad input, an unreachable
server, a failed run and a run waiting for a person."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.cargo.models import ExtractedDocument, ExtractionRequest
from sluice import __version__
from sluice.activity_policy import with_policy
from sluice.app.cli import parser
from sluice.app.cli_help import (
    EXIT_INPUT,
    EXIT_RUN_FAILED,
    EXIT_UNREACHABLE,
    EXIT_WAITING,
    subcommands,
)
from sluice.config import Settings
from sluice.model_contracts import MODEL_CALL
from tests.conftest import EXAMPLES
from tests.support import ROOT, cli_environment, starter

ANOMALY = str(EXAMPLES / "cargo_release" / "anomaly.json")
SUBCOMMANDS = sorted(subcommands(parser()))


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_explains_itself_with_an_example(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = subcommands(parser())[name]
    if name != "reviewers":  # its --help is python -m sluice.reviewers' own
        with pytest.raises(SystemExit) as done:
            parser().parse_args([name, "--help"])
        assert done.value.code == 0
        assert sub.description.split()[0] in capsys.readouterr().out
    assert sub.description and len(sub.description) > 30
    assert sub.epilog and "examples:\n" in sub.epilog and f"starter.py {name}" in sub.epilog
    unexplained = [
        action.dest
        for action in sub._actions
        if not action.help and action.dest not in ("help", "command", "verdict")
    ]
    assert unexplained == []


def test_the_version_and_a_completion_script_that_completes(tmp_path: Any) -> None:
    version = subprocess.run(
        [sys.executable, "starter.py", "--version"], cwd=ROOT, capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.strip().endswith(f"starter.py {__version__}")
    script = subprocess.run(
        [sys.executable, "starter.py", "completion", "bash"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    (tmp_path / "complete.sh").write_text(script)
    function = script.split("(", 1)[0]

    def completions(*words: str) -> set[str]:
        line = " ".join(["x", *words])
        typed = subprocess.run(
            [
                "bash",
                "-c",
                f"source {tmp_path / 'complete.sh'}; COMP_WORDS=({line}); "
                f"COMP_CWORD={len(words)}; {function}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            ],
            capture_output=True,
            text=True,
        )
        return set(typed.stdout.split())

    assert {"start", "status"} <= completions("st")
    assert {"cargo-release", "--wait", "--output"} <= completions("start", "") | completions(
        "start", "--"
    )
    assert completions("approve", "--rev") == {"--reviewer"}


async def test_bad_input_and_an_unreachable_server_have_their_own_exit_codes(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    missing = await starter(dev_env, settings, "start", "cargo-release", "no-such-file.json")
    assert missing.returncode == EXIT_INPUT and "no such file" in missing.stderr
    flag = await starter(dev_env, settings, "status")
    assert flag.returncode == EXIT_INPUT
    unreachable = await starter(
        dev_env, settings, "status", "x", "--address", "127.0.0.1:1", "-o", "json"
    )
    assert unreachable.returncode == EXIT_UNREACHABLE
    assert unreachable.stderr.startswith("error: cannot reach Temporal at 127.0.0.1:1")


async def test_start_wait_stops_at_a_human_gate_with_its_own_code_and_json(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    workflow_id = f"gate-{uuid.uuid4().hex[:8]}"
    async with make_worker(dev_env.client):
        waiting = await starter(
            dev_env, settings, "start", "cargo-release", ANOMALY, "--id", workflow_id, "--wait"
        )
        assert waiting.returncode == EXIT_WAITING, waiting.stderr
        assert f"starter.py approve {workflow_id} --reviewer alice" in waiting.stdout
        as_json = await starter(dev_env, settings, "start", "cargo-release", ANOMALY, "-o", "json")
        assert as_json.returncode == 0, as_json.stderr
        started = json.loads(as_json.stdout)
        assert started["workflow_type"] == "CargoReleaseWorkflow" and started["run_id"]
        decided = await starter(
            dev_env, settings, "reject", workflow_id, "--reviewer", "bob", "--reason", "held"
        )
        assert decided.returncode == 0, decided.stderr
        refreshed = await starter(dev_env, settings, "refresh-policy", "--json")
    assert json.loads(refreshed.stdout)["refreshed"] >= 1


async def test_start_wait_says_a_run_failed_with_its_own_code(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    workflow_id = f"ends-{uuid.uuid4().hex[:8]}"
    reading = asyncio.Event()

    @activity.defn(name="extract_cargo_document")
    @with_policy(MODEL_CALL)
    async def extract_forever(request: ExtractionRequest) -> ExtractedDocument:
        reading.set()
        await asyncio.sleep(3600)  # a document that takes forever: the run is terminated
        raise AssertionError("not reached")

    async with make_worker(dev_env.client, replacements=[extract_forever]):
        following = asyncio.create_task(
            asyncio.to_thread(
                subprocess.run,
                [
                    *(sys.executable, "starter.py", "start", "cargo-release", ANOMALY),
                    *("--id", workflow_id, "--wait", "-o", "json"),
                ],
                cwd=ROOT,
                env=cli_environment(dev_env, settings),
                capture_output=True,
                text=True,
                timeout=90,
            )
        )
        await asyncio.wait_for(reading.wait(), 60)
        await asyncio.sleep(1)  # the CLI is following by now
        await dev_env.client.get_workflow_handle(workflow_id).terminate("test over")
        failed = await following
    assert failed.returncode == EXIT_RUN_FAILED, failed.stderr
    assert json.loads(failed.stdout)["state"] == "failed"
