"""The key ring as containers get it: from the environment (SLUICE_CODEC_KEYS, out of the
uncommitted .env), never from a file baked into the image."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from sluice.codec import (
    CodecError,
    EncryptionCodec,
    codec_from_settings,
    create_key_file,
    key_ring_env_value,
    key_ring_from_text,
    load_key_ring,
)
from sluice.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def codec_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice.codec", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_env_command_prints_a_line_for_the_env_file_that_decrypts_what_the_file_sealed(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    made = codec_command("env", env={"SLUICE_DATA_DIR": str(data_dir)})
    assert made.returncode == 0, made.stderr
    name, _, value = made.stdout.strip().partition("=")
    assert name == "SLUICE_CODEC_KEYS" and value
    key_file = data_dir / "codec" / "keys.json"
    assert key_file.exists()  # the master copy, to rotate later
    sealed = EncryptionCodec(load_key_ring(key_file)).encrypt(Payload(data=b"{}"))
    settings = load_settings(environ={"SLUICE_CODEC_KEYS": value, "SLUICE_DATA_DIR": "/nowhere"})
    codec = codec_from_settings(settings, create=True)
    assert codec is not None and codec.decrypt(sealed).data == b"{}"
    assert not Path("/nowhere").exists()  # no key file made or needed


def test_the_ring_may_be_given_as_json_too_and_a_bad_value_is_named_without_keys(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "keys.json"
    ring = create_key_file(key_file)
    as_json = key_file.read_text()
    assert key_ring_from_text(as_json).current == ring.current
    assert key_ring_from_text(key_ring_env_value(key_file)).key_ids == ring.key_ids
    secret = json.loads(as_json)["keys"][ring.current]
    with pytest.raises(CodecError, match="SLUICE_CODEC_KEYS: neither") as refused:
        key_ring_from_text("not a ring!")
    broken = base64.b64encode(as_json.replace('"current"', '"present"').encode()).decode()
    with pytest.raises(CodecError, match="SLUICE_CODEC_KEYS: not a key file") as damaged:
        key_ring_from_text(broken)
    assert secret not in str(refused.value) + str(damaged.value)


def test_rotation_is_refused_while_the_ring_comes_from_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    create_key_file(key_file)
    refused = codec_command("rotate", env={"SLUICE_CODEC_KEYS": key_ring_env_value(key_file)})
    assert refused.returncode == 1
    assert "rotate or export the key file" in refused.stderr and "Traceback" not in refused.stderr
    shown = codec_command("show", env={"SLUICE_CODEC_KEYS": key_ring_env_value(key_file)})
    assert shown.returncode == 0 and "SLUICE_CODEC_KEYS: current key" in shown.stdout
