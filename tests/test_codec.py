"""Payload encryption and the key ring: what the Temporal server stores, and rotation."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext
from temporalio.exceptions import ApplicationError

from activities.kyc.models import KycApplication
from sluice import codec as codec_module
from sluice.codec import (
    ENCODING,
    KEY_ID,
    CodecError,
    EncryptionCodec,
    codec_from_settings,
    create_key_file,
    load_key_ring,
    refusal_of,
    rotate_key_file,
)
from sluice.config import Settings, load_settings
from sluice.converter import (
    MarkingCodec,
    WorkerPayloadConverter,
    sluice_data_converter,
    worker_data_converter,
)

APPLICANT = {"name": "Margarethe Oyelaran-Vasquez", "date_of_birth": "1984-02-29"}


def json_payload(document: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(document).encode())


async def test_encrypted_payload_hides_its_content_and_decrypts_to_the_original(
    tmp_path: Path,
) -> None:
    codec = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    original = json_payload(APPLICANT)

    [sealed] = await codec.encode([original])

    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == codec.ring.current.encode()
    assert b"Oyelaran" not in sealed.SerializeToString()
    assert b"1984-02-29" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [original]


async def test_same_input_never_gives_the_same_ciphertext(tmp_path: Path) -> None:
    codec = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    first, second = await codec.encode([json_payload(APPLICANT), json_payload(APPLICANT)])
    assert first.data != second.data


async def test_runs_sealed_before_a_rotation_still_open_and_new_ones_use_the_new_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.json"
    before = EncryptionCodec(create_key_file(path))
    [old] = await before.encode([json_payload(APPLICANT)])

    new_id = rotate_key_file(path)
    after = EncryptionCodec(load_key_ring(path))

    assert new_id != before.ring.current
    assert after.ring.current == new_id
    assert await after.decode([old]) == [json_payload(APPLICANT)]
    [new] = await after.encode([json_payload(APPLICANT)])
    assert new.metadata[KEY_ID] == new_id.encode()
    with pytest.raises(CodecError, match=new_id):
        await before.decode([new])


async def test_unknown_key_id_is_named_and_no_key_is_shown(tmp_path: Path) -> None:
    other_path = tmp_path / "other" / "keys.json"
    other = EncryptionCodec(create_key_file(other_path))
    [sealed] = await other.encode([json_payload(APPLICANT)])
    mine = EncryptionCodec(create_key_file(tmp_path / "keys.json"))

    with pytest.raises(CodecError) as refused:
        await mine.decode([sealed])

    message = str(refused.value)
    assert other.ring.current in message and str(tmp_path / "keys.json") in message
    for stored in json.loads(other_path.read_text())["keys"].values():
        assert stored not in message


async def test_altered_ciphertext_is_refused(tmp_path: Path) -> None:
    codec = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    [sealed] = await codec.encode([json_payload(APPLICANT)])
    altered = Payload(
        metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    )
    with pytest.raises(CodecError, match="failed authentication"):
        await codec.decode([altered])


async def test_plain_json_from_the_temporal_cli_passes_through(tmp_path: Path) -> None:
    codec = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    plain = [json_payload({"shipment_id": "SHP-1"}), Payload(metadata={"encoding": b"binary/null"})]
    assert await codec.decode(plain) == plain


def test_first_run_creates_a_private_key_file_and_later_runs_reuse_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")

    first = codec_from_settings(settings, create=True)
    again = codec_from_settings(settings)

    path = tmp_path / "var" / "codec" / "keys.json"
    assert first is not None and again is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again.ring.current == first.ring.current


def test_a_configured_key_file_that_is_missing_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    settings.codec.keys_file = tmp_path / "mounted" / "keys.json"
    with pytest.raises(CodecError, match="no key file"):
        codec_from_settings(settings, create=True)
    assert not settings.codec.keys_file.exists()


def test_the_cli_without_a_key_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(CodecError, match="start the worker once"):
        codec_from_settings(Settings(data_dir=tmp_path / "var"))


def test_a_damaged_key_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"current": "k1", "keys": {"k1": "not base64!"}}))
    with pytest.raises(CodecError, match=r"keys\.json: key 'k1' is not valid base64"):
        load_key_ring(path)
    path.write_text(json.dumps({"current": "k2", "keys": {"k1": "AAAA"}}))
    with pytest.raises(CodecError, match="current key id 'k2' is not among its keys"):
        load_key_ring(path)


def test_encryption_can_be_switched_off_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"SLUICE_CODEC_DISABLED": "1", "SLUICE_DATA_DIR": str(tmp_path)}
    )
    assert codec_from_settings(settings, create=True) is None
    assert not (tmp_path / "codec").exists()
    assert sluice_data_converter(None).payload_codec is None


def test_rotate_command_prints_key_ids_and_never_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    first = create_key_file(path).current
    monkeypatch.setenv("SLUICE_CODEC_KEYS_FILE", str(path))

    assert codec_module.main(["rotate"]) == 0
    assert codec_module.main(["show"]) == 0

    shown = capsys.readouterr().out
    stored = json.loads(path.read_text())
    assert stored["current"] != first and set(stored["keys"]) == {first, stored["current"]}
    assert first in shown and stored["current"] in shown
    for key in stored["keys"].values():
        assert key not in shown


@pytest.mark.parametrize(
    ("metadata", "data", "reason"),
    [
        ({KEY_ID: "current"}, b"short", "is too short to be one of ours"),
        ({KEY_ID: "k\x1b[2Jx"}, b"\x00" * 64, "key id 'k?[2Jx'"),
        ({KEY_ID: "current"}, "sealed-garbage", "does not hold a payload"),
    ],
    ids=["short nonce", "escape in key id", "not a payload inside"],
)
async def test_garbage_that_claims_our_encoding_is_a_codec_error_naming_the_problem(
    tmp_path: Path, metadata: dict[str, str], data: bytes | str, reason: str
) -> None:
    codec = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    current = codec.ring.current
    if data == "sealed-garbage":
        nonce = b"\x01" * 12
        data = nonce + codec.ring.cipher(current).encrypt(nonce, b"\x0a\xff", None)
    assert isinstance(data, bytes)
    forged = Payload(
        metadata={"encoding": ENCODING}
        | {k: (current if v == "current" else v).encode() for k, v in metadata.items()},
        data=data,
    )
    with pytest.raises(CodecError, match=re.escape(reason)):
        await codec.decode([forged])


async def test_a_worker_marks_what_it_cannot_decrypt_and_still_names_it(tmp_path: Path) -> None:
    codec = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    [good] = await codec.encode([json_payload(APPLICANT)])
    forged = Payload(metadata={"encoding": ENCODING, KEY_ID: b"made-up"}, data=b"\x00" * 64)

    decoded = await MarkingCodec(codec).decode([good, forged])

    assert decoded[0] == json_payload(APPLICANT)
    assert "key id 'made-up'" in (refusal_of(decoded[1]) or "")
    # Read anywhere but a run's own input, a marker is the codec's error, as the CLI shows it.
    worker = worker_data_converter(sluice_data_converter(codec))
    with pytest.raises(CodecError, match="key id 'made-up'"):
        await worker.decode([forged], [dict])
    with pytest.raises(CodecError, match="key id 'made-up'"):
        await sluice_data_converter(codec).decode([forged], [dict])


def test_a_runs_own_input_that_does_not_validate_is_an_invalid_input_error() -> None:
    converter = WorkerPayloadConverter()
    in_a_run = converter.with_context(WorkflowSerializationContext("default", "run-1"))
    bad = json_payload({"application_id": 42})

    with pytest.raises(ApplicationError) as refused:
        in_a_run.from_payloads([bad], [KycApplication])
    assert refused.value.type == "InvalidInput" and refused.value.non_retryable
    assert "application_id: Input should be a valid string" in refused.value.message
    # Elsewhere (activity results) the error stays what it is: the task fails and retries.
    with pytest.raises(ValidationError):
        converter.from_payloads([bad], [KycApplication])
