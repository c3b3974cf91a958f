"""The connection as Temporal's own tools configure it: a ``temporal config set`` profile in
``temporal.toml`` steers the worker and the CLI, the standard ``TEMPORAL_*`` variables and
flags win over it, and the names Sluice used before still work for a release, with a
warning naming the right one."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from sluice.app.cli import parser
from sluice.binaries import temporal_cli
from sluice.config import ConfigError, Settings, load_settings
from sluice.connection_flags import settings_with_flags
from tests.support import ROOT, cli_environment

CLEAN = str(ROOT / "examples" / "cargo_release" / "clean.json")


def config_set(config_file: Path, profile: str, prop: str, value: str) -> None:
    """``temporal config set``, as an operator writes a profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    subprocess.run(
        [temporal_cli(), "config", "set", "--profile", profile, "--prop", prop, "--value", value],
        env=env | {"TEMPORAL_CONFIG_FILE": str(config_file)},
        check=True,
        capture_output=True,
        timeout=30,
    )


async def test_a_temporal_config_profile_steers_the_worker_and_the_cli(
    dev_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    profiles = tmp_path / "temporal.toml"
    address = dev_env.client.service_client.config.target_host
    config_set(profiles, "desk", "address", address)
    config_set(profiles, "desk", "namespace", "default")
    env = cli_environment(dev_env, settings)
    del env["TEMPORAL_ADDRESS"]  # only the profile knows where the server is
    env["TEMPORAL_CONFIG_FILE"] = str(profiles)
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            *[sys.executable, "worker.py", "--profile", "desk"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "polling task queue" not in log_path.read_text():
            assert worker.returncode is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            await asyncio.sleep(0.2)
        # The CLI takes the profile from the variable, and follows the run to its end.
        started = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "starter.py", "start", "cargo-release", CLEAN, "--wait"],
            cwd=ROOT,
            env=env | {"TEMPORAL_PROFILE": "desk"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 60)
    assert f"connected to Temporal at {address} (default)" in log_path.read_text()
    assert started.returncode == 0, started.stderr
    assert "released" in started.stdout.lower()

    # Without the profile, nothing says where the server is: the default address is tried.
    elsewhere = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "starter.py",
            "--profile",
            "desk",
            "status",
            "x",
            "--address",
            "127.0.0.1:1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert elsewhere.returncode != 0
    assert "cannot reach Temporal at 127.0.0.1:1 (namespace default, profile desk)" in (
        elsewhere.stderr
    )


def test_variables_win_over_the_profile_and_the_profile_over_sluice_toml(
    tmp_path: Path,
) -> None:
    profiles = tmp_path / "temporal.toml"
    config_set(profiles, "default", "address", "profile.example:7233")
    config_set(profiles, "default", "namespace", "from-profile")
    config_set(profiles, "default", "grpc_meta.x-team", "desk")
    own = tmp_path / "sluice.toml"
    own.write_text('[temporal]\naddress = "sluice.example:7233"\nnamespace = "from-sluice"\n')
    environ = {"TEMPORAL_CONFIG_FILE": str(profiles), "TEMPORAL_NAMESPACE": "from-variable"}
    temporal = load_settings(own, environ).temporal
    assert (temporal.address, temporal.namespace) == ("profile.example:7233", "from-variable")
    assert temporal.grpc_meta == {"x-team": "desk"}
    # No temporal.toml at all: sluice.toml's [temporal] is what there is.
    assert load_settings(own, {"HOME": str(tmp_path)}).temporal.address == "sluice.example:7233"


def test_standard_tls_variables_and_flags_are_read(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    environ = {
        "HOME": str(tmp_path),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(ca),
        "TEMPORAL_TLS_CLIENT_CERT_DATA": "CERT PEM",
        "TEMPORAL_TLS_SERVER_NAME": "frontend.example",
        "TEMPORAL_GRPC_META_X_TENANT": "eu",
        "TEMPORAL_API_KEY": "key-1",
    }
    temporal = load_settings(None, environ).temporal
    assert temporal.tls_server_ca == ca and temporal.tls_client_cert_data == "CERT PEM"
    assert temporal.tls_server_name == "frontend.example" and temporal.api_key == "key-1"
    assert temporal.grpc_meta == {"x-tenant": "eu"}
    args = parser().parse_args(
        ["status", "x", "--grpc-meta", "x-team=desk", "-n", "ns1", "--tls-key-data", "KEY"]
    )
    assert (args.grpc_meta, args.namespace, args.tls_key_data) == (["x-team=desk"], "ns1", "KEY")


def test_the_old_variable_names_still_work_and_warn_naming_the_new_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with caplog.at_level(logging.WARNING, logger="sluice.config"):
        temporal = load_settings(
            None, {"HOME": str(tmp_path), "TEMPORAL_TLS_SERVER_CA": str(ca)}
        ).temporal
    assert temporal.tls_server_ca == ca
    assert caplog.messages == [
        "warning: TEMPORAL_TLS_SERVER_CA is deprecated and will stop working in the next "
        "release; set TEMPORAL_TLS_SERVER_CA_CERT_PATH instead"
    ]


def test_an_old_flag_still_works_and_warns_naming_the_new_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("PEM")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in [n for n in os.environ if n.startswith("TEMPORAL_")]:
        monkeypatch.delenv(name)
    with caplog.at_level(logging.WARNING, logger="sluice.config"):
        args = parser().parse_args(["pending", "--tls-cert", str(cert)])
        settings = settings_with_flags(args)
    assert settings.temporal.tls_client_cert == cert
    assert caplog.messages == [
        "warning: --tls-cert is deprecated and will stop working in the next release; "
        "use --tls-cert-path"
    ]


def test_a_profile_or_file_that_does_not_exist_is_one_clear_error(tmp_path: Path) -> None:
    profiles = tmp_path / "temporal.toml"
    config_set(profiles, "desk", "address", "127.0.0.1:7233")
    with pytest.raises(ConfigError, match="profile 'prod': Profile 'prod' not found"):
        load_settings(None, {"TEMPORAL_CONFIG_FILE": str(profiles), "TEMPORAL_PROFILE": "prod"})
    with pytest.raises(ConfigError, match=r"TEMPORAL_CONFIG_FILE: .*nope\.toml: no such file"):
        load_settings(None, {"TEMPORAL_CONFIG_FILE": str(tmp_path / "nope.toml")})
    # Asked for and not possible: refused rather than silently verified anyway.
    with pytest.raises(ConfigError, match="TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"):
        load_settings(
            None, {"HOME": str(tmp_path), "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION": "true"}
        )
