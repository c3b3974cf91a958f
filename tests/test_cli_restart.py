"""The main job and the command line meet runs that already exist: the sample runs of an
earlier start, a second start with the same id, an earlier run under a reused id. Each is
said in a line, and every command the CLI prints for the user works as printed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.converter import ExternalStorage
from temporalio.testing import WorkflowEnvironment

from sluice.app.catalog import PROCESSES
from sluice.app.runner import start_examples
from sluice.codec import EncryptionCodec
from sluice.config import Settings
from sluice.converter import sluice_data_converter
from sluice.devserver import start_dev_server
from sluice.framework import EXAMPLES
from tests.conftest import EXAMPLES as TEST_EXAMPLES
from tests.conftest import example
from tests.faults.processes import free_ports
from tests.support import ROOT, cli_environment, decide, eventually, starter, status_until

ANOMALY = str(TEST_EXAMPLES / "cargo_release" / "anomaly.json")
# How the tests call Python, as the CLI should print it from the project folder.
PYTHON = (
    str(Path(sys.executable).relative_to(ROOT))
    if Path(sys.executable).is_relative_to(ROOT)
    else sys.executable
)


async def one_run_per_sample(client: Client) -> bool:
    """Whether each sample id holds exactly one run (visibility lists a start a moment after
    it, so callers wait for this)."""
    counts = [
        (await client.count_workflows(f"WorkflowId = 'demo-{name}'")).count
        for name in ("cargo-release-clean", "cargo-release-anomaly")
    ]
    return counts == [1, 1]


async def test_the_sample_runs_of_an_earlier_start_are_found_not_started_again(
    tmp_path: Path,
    settings: Settings,
    codec: EncryptionCodec,
    external_storage: ExternalStorage,
    make_worker: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    samples = len(list(EXAMPLES.glob("*/*.json")))
    database = tmp_path / "temporal.sqlite"
    four_eyes = "demo-kyc-review-high_risk"
    for start in ("first", "again"):  # the main job, stopped and started again
        server = await start_dev_server(
            database_file=database,
            port=None,
            ui=False,
            data_converter=sluice_data_converter(codec, external_storage),
        )
        try:
            async with make_worker(server.client):
                await start_examples(server.client, settings)
                if start == "first":  # the first of the two KYC reviewers decides
                    handle = server.client.get_workflow_handle(four_eyes)
                    await decide(handle, settings, "approve", "alice")

            # Finished (clean) or waiting (anomaly): each sample id holds one run, both times.
            await eventually(
                partial(one_run_per_sample, server.client), seconds=10, what="one run per sample"
            )
        finally:
            await server.shutdown()
        shown = capsys.readouterr().out
        assert f"\nsample runs ({samples}):\n" in shown and "\\n" not in shown
        assert (
            f"approve: {PYTHON} starter.py approve demo-cargo-release-anomaly --reviewer alice"
            in shown
        )
        assert f"list waiting runs any time with: {PYTHON} starter.py pending" in shown
        if start == "first":
            assert "already there" not in shown
    # The printed approve command names a reviewer the run takes now: not alice again.
    assert f"approve: {PYTHON} starter.py approve {four_eyes} --reviewer bob" in shown
    assert f"{samples} already there from an earlier start, not started again" in shown


async def test_a_second_start_with_a_running_id_is_one_line_and_hints_work_as_printed(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:
    workflow_id = f"twice-{uuid.uuid4().hex[:8]}"
    async with make_worker(dev_env.client):
        first = await starter(
            dev_env, settings, "start", "cargo-release", ANOMALY, "--id", workflow_id
        )
        assert first.returncode == 0, first.stderr
        assert f"follow it: {PYTHON} starter.py status {workflow_id}" in first.stdout
        again = await starter(
            dev_env, settings, "start", "cargo-release", ANOMALY, "--id", workflow_id
        )
        assert again.returncode == 1
        assert again.stderr == (
            f"error: a run with id '{workflow_id}' is already running; "
            f"see {PYTHON} starter.py status {workflow_id}\n"
        )
        handle = dev_env.client.get_workflow_handle(workflow_id)
        await status_until(handle, lambda s: s.pending_decision is not None, what="a decision")

        # From another folder, the approve command `status` prints is the one that works.
        elsewhere = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(ROOT / "starter.py"), "status", workflow_id],
            cwd=tmp_path,
            env=cli_environment(dev_env, settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        [approve] = re.findall(r"approve: (.*)", elsewhere.stdout)
        assert approve.startswith(f"{sys.executable} {ROOT / 'starter.py'} approve")
        approved = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", approve],
            cwd=tmp_path,
            env=cli_environment(dev_env, settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert approved.returncode == 0, approved.stderr
        assert (await handle.result())["action"] == "released"


async def test_run_id_reaches_the_earlier_run_of_a_reused_workflow_id(
    dev_env: WorkflowEnvironment, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    workflow_id = f"reused-{uuid.uuid4().hex[:8]}"
    handle = dev_env.client.get_workflow_handle(workflow_id)
    waiting = lambda s: s.pending_decision is not None  # noqa: E731
    async with make_worker(dev_env.client):
        await starter(dev_env, settings, "start", "cargo-release", ANOMALY, "--id", workflow_id)
        await status_until(handle, waiting, what="a decision")
        rejected = await starter(
            dev_env, settings, "reject", workflow_id, "--reviewer", "bob", "--reason", "held once"
        )
        assert rejected.returncode == 0, rejected.stderr
        await handle.result()
        first = await starter(dev_env, settings, "status", workflow_id)
        [first_run] = re.findall(r"^  run: (\S+)$", first.stdout, re.MULTILINE)

        second = await starter(
            dev_env, settings, "start", "cargo-release", ANOMALY, "--id", workflow_id
        )
        assert second.returncode == 0, second.stderr
        await status_until(handle, waiting, what="the second run's decision")

        latest = await starter(dev_env, settings, "status", workflow_id)
        earlier = await starter(dev_env, settings, "status", workflow_id, "--run-id", first_run)
        audit = await starter(dev_env, settings, "audit", workflow_id, "--run-id", first_run)
        traced = await starter(dev_env, settings, "trace", workflow_id, "--run-id", first_run)
        unknown = await starter(
            dev_env, settings, "status", workflow_id, "--run-id", str(uuid.uuid4())
        )
    assert "Waiting for a decision" in latest.stdout and first_run not in latest.stdout
    assert f"run: {first_run}" in earlier.stdout
    assert "decision: rejected by bob" in earlier.stdout and "reason: held once" in earlier.stdout
    assert "reason: held once" in audit.stdout
    assert traced.returncode == 0, traced.stderr
    assert f"run {first_run} of {workflow_id}" in traced.stdout
    assert "Put cargo on hold" in traced.stdout  # the first run's safe path, not the second's wait
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: no run '")


def main_job(data_dir: Path, *, port: int, codec_port: int) -> subprocess.CompletedProcess[str]:
    """``worker.py --dev --examples --port PORT`` with the codec server on ``codec_port``, run
    to its end (a refusal ends it at once), with none of this machine's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SLUICE_"))}
    env |= {"SLUICE_DATA_DIR": str(data_dir), "SLUICE_CODEC_PORT": str(codec_port)}
    return subprocess.run(
        [sys.executable, "worker.py", "--dev", "--examples", "--port", str(port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_main_job_says_in_one_line_that_its_port_is_taken(tmp_path: Path) -> None:
    """Started again while the first is still running (or a Temporal server holds the port):
    one line naming the port and the flag, no traceback, and nothing started."""
    with socket.socket() as taken, socket.socket() as free:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        free.bind(("127.0.0.1", 0))
        port, codec_port = taken.getsockname()[1], free.getsockname()[1]
        free.close()
        again = main_job(tmp_path / "data", port=port, codec_port=codec_port)
    assert again.returncode == 1
    assert again.stderr == (
        f"error: 127.0.0.1:{port} is in use: is the main job (`bash scripts/run.sh`) or "
        "another Temporal server already running? Stop it, or choose --port\n"
    )
    assert not (tmp_path / "data" / "temporal.sqlite").exists()


def test_the_main_job_refuses_one_port_for_two_of_its_servers(tmp_path: Path) -> None:
    """The codec server's port from the environment, the dev server's from the command line,
    both the same: one line naming both, before anything starts (it used to start the codec
    server on the port, then fail the dev server with a protocol error and a crash dump)."""
    (port,) = free_ports(1)
    started = main_job(tmp_path / "data", port=port, codec_port=port)
    assert started.returncode == 1
    assert started.stderr == (
        f"error: --port and SLUICE_CODEC_PORT are both {port}: give each its own port\n"
    )
    assert not (tmp_path / "data" / "temporal.sqlite").exists()


async def test_an_edited_sample_that_no_longer_validates_is_named_and_the_others_start(
    dev_env: WorkflowEnvironment,
    settings: Settings,
    make_worker: Callable[..., Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    samples = tmp_path / "examples" / "cargo_release"
    samples.mkdir(parents=True)
    marker = uuid.uuid4().hex[:8]
    (samples / f"clean_{marker}.json").write_text(json.dumps(example("cargo_release", "clean")))
    (samples / f"broken_{marker}.json").write_text('{"shipment_id": ')
    processes = [replace(p, examples=tmp_path / "examples" / p.domain) for p in PROCESSES]
    async with make_worker(dev_env.client):
        await start_examples(dev_env.client, settings, processes)
    shown = capsys.readouterr().out
    assert f"not started: {samples / f'broken_{marker}.json'}: not valid JSON" in shown
    assert f"demo-cargo-release-clean_{marker}: " in shown  # started, and its state shown
