"""The demo stays two commands with signed decisions: ``worker.py --dev --examples`` creates
keys for the sample reviewers on first run, and the approve command it prints signs with
them and is accepted as printed."""

from __future__ import annotations

import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from sluice.reviewers import load_registry
from tests.faults.processes import free_ports
from tests.support import ROOT


def demo_environment(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "SLUICE_", "OTEL_", "MISTRAL_"))
    }
    return env | {"SLUICE_DATA_DIR": str(data_dir), "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}


def test_first_dev_run_creates_sample_keys_and_the_printed_approve_command_works(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    port, ui_port, inbox_port, codec_port = free_ports(4)
    env = demo_environment(data_dir, port) | {"SLUICE_CODEC_PORT": str(codec_port)}
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [
                sys.executable, "worker.py", "--dev", "--examples",
                "--port", str(port), "--ui-port", str(ui_port), "--inbox-port", str(inbox_port),
            ],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while "list waiting runs any time" not in log.read_text():
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        printed = log.read_text()
        assert "sample reviewer keys for alice, bob, carol, dave" in printed
        # The inbox's address and the demo users, with one-time passwords on this first run.
        assert f"Sluice inbox:      http://localhost:{inbox_port}" in printed
        passwords = dict(re.findall(r"^    (alice|bob|dave) +(\S{16})$", printed, re.MULTILINE))
        assert set(passwords) == {"alice", "bob", "dave"}, printed
        registry = load_registry(data_dir / "reviewers.json")
        assert {"alice", "bob", "dave"} <= set(registry.reviewers)
        key = data_dir / "reviewer-keys" / "alice.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600

        command = re.search(
            r"approve: (.*starter\.py approve demo-cargo-release-anomaly .*)", printed
        )
        assert command is not None, printed
        approved = subprocess.run(
            shlex.split(command.group(1).replace(".venv/bin/python", sys.executable, 1)),
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert approved.returncode == 0, approved.stderr
        assert "approved" in approved.stdout
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
