"""Payload encryption: AES-256-GCM over every workflow and activity payload, with a key ring.

The Temporal server stores only ciphertext, so names, dates of birth and document text never
sit in its history in plain text. Each encrypted payload names the key that sealed it
(``encryption-key-id`` metadata, public by design), so keys can rotate: new payloads use the
current key, older keys stay in the ring to decrypt what they sealed. Payloads without our
encoding pass through untouched, so plain JSON from the ``temporal`` CLI is still accepted.

The key ring is a JSON file (``{"current": id, "keys": {id: base64}}``, mode 0600), created on
first run at ``{data_dir}/codec/keys.json`` unless another file is configured. Containers may
get the ring from the environment instead (``SLUICE_CODEC_KEYS``: the same JSON, in base64).

python -m sluice.codec rotate     # add a new key and make it current
python -m sluice.codec env        # the ring as a SLUICE_CODEC_KEYS line for an .env file
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from pydantic import BaseModel, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from sluice.config import ConfigError, Settings, load_settings
from sluice.private_files import FILE_MODE, private_file, private_folder

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32

# What a worker hands on in place of a payload it could not decrypt (see ``unreadable``).
UNREADABLE = b"binary/sluice-unreadable"
REFUSAL = "sluice-refusal"


class CodecError(ConfigError):
    """The key ring cannot be used: a missing or invalid key file, a payload sealed with a key
    the ring does not hold, or a payload that fails authentication. Never carries key bytes."""


class KeyFile(BaseModel):
    """The key file as stored: the current key id and every key, base64-encoded."""

    current: str
    keys: dict[str, str]


class KeyRing:
    """The current key (encrypts) and every key by id (decrypts)."""

    def __init__(self, current: str, keys: Mapping[str, bytes], source: str = "key ring") -> None:
        if current not in keys:
            raise CodecError(f"{source}: current key id '{current}' is not among its keys")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise CodecError(f"{source}: key '{key_id}' is not {KEY_BYTES} bytes (AES-256)")
        self.current = current
        self.source = source
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    def cipher(self, key_id: str) -> AESGCM:
        try:
            return self._ciphers[key_id]
        except KeyError:
            raise CodecError(
                f"payload was encrypted with key id '{_printable(key_id)}', which {self.source} "
                "does not hold: add that key to the ring to decrypt it"
            ) from None


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload with the ring's current key; decrypts only our own payloads."""

    def __init__(self, ring: KeyRing) -> None:
        super().__init__()
        self.ring = ring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """The whole original payload (metadata included) sealed under the current key."""
        key_id = self.ring.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.ring.cipher(key_id).encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        """The original payload, or ``payload`` itself when it is not one of ours. Anything
        that claims our encoding and does not open (no or unknown key id, too short, altered,
        not a payload inside) is a ``CodecError`` naming what was wrong, never another error."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID)
        if not raw_id:
            raise CodecError(f"an encrypted payload carries no '{KEY_ID}' metadata")
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self.ring.cipher(key_id)
        key_id = _printable(key_id)
        if len(payload.data) < NONCE_BYTES + TAG_BYTES:
            raise CodecError(
                f"a payload sealed with key id '{key_id}' is too short to be one of ours "
                f"({len(payload.data)} bytes)"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, None))
        except InvalidTag:
            raise CodecError(
                f"a payload sealed with key id '{key_id}' failed authentication "
                "(altered in storage, or a different key under the same id)"
            ) from None
        except DecodeError:
            raise CodecError(
                f"a payload sealed with key id '{key_id}' does not hold a payload"
            ) from None


def unreadable(reason: str) -> Payload:
    """A marker standing for a payload that could not be decrypted (or, from the payload
    store, fetched): it carries the reason and no data, and no payload converter turns it
    into a value (``refusal_of`` reads it)."""
    return Payload(metadata={"encoding": UNREADABLE, REFUSAL: reason.encode()})


def refusal_of(payload: Payload) -> str | None:
    """Why ``payload`` could not be read, if it is an ``unreadable`` marker."""
    if payload.metadata.get("encoding") != UNREADABLE:
        return None
    return payload.metadata.get(REFUSAL, b"").decode("utf-8", errors="replace")


def _printable(text: str, limit: int = 64) -> str:
    """A value from outside (a key id anyone can write) as it may appear in a message."""
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return shown + ("..." if len(text) > limit else "")


# --- the key file -----------------------------------------------------------------------------


def keys_path(settings: Settings) -> Path:
    """The configured key file, or ``{data_dir}/codec/keys.json``."""
    return settings.keys_file


def new_key_id() -> str:
    """A readable, unique key id: the day it was made and a random suffix (ids are public)."""
    return f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def load_key_ring(path: Path) -> KeyRing:
    """Read a key file, naming the file (never a key) on any problem."""
    try:
        stored_json = path.read_bytes()
    except FileNotFoundError:
        raise CodecError(
            f"{path}: no key file; start the worker once to create one, or point "
            "SLUICE_CODEC_KEYS_FILE at the file the workers use"
        ) from None
    return _key_ring(stored_json, source=str(path))


def key_ring_from_text(text: str, source: str = "SLUICE_CODEC_KEYS") -> KeyRing:
    """A ring given as text: the key file's JSON, or that JSON in base64 (which survives
    ``.env`` files and secret stores unquoted). Problems name ``source``, never a key."""
    text = text.strip()
    if text.startswith("{"):
        return _key_ring(text.encode(), source)
    try:
        return _key_ring(base64.b64decode(text, validate=True), source)
    except binascii.Error:
        raise CodecError(f"{source}: neither a key file's JSON nor base64 of it") from None


def key_ring_env_value(path: Path) -> str:
    """The key file as one ``SLUICE_CODEC_KEYS`` value: its JSON, compact, in base64."""
    load_key_ring(path)  # refuse to export a file that does not load
    stored = KeyFile.model_validate_json(path.read_bytes())
    return base64.b64encode(stored.model_dump_json().encode()).decode()


def _key_ring(stored_json: bytes, source: str) -> KeyRing:
    try:
        stored = KeyFile.model_validate_json(stored_json)
    except ValidationError as err:
        raise CodecError(f"{source}: not a key file: {err.errors()[0]['msg']}") from None
    keys: dict[str, bytes] = {}
    for key_id, encoded in stored.keys.items():
        try:
            keys[key_id] = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise CodecError(f"{source}: key '{key_id}' is not valid base64") from None
    return KeyRing(stored.current, keys, source=source)


def _write_private(path: Path, stored: KeyFile, *, replace: bool) -> bool:
    """Write the file readable by its owner only. Without ``replace``, an existing file wins
    (two processes starting together keep one ring); returns whether this call wrote it."""
    private_folder(path.parent)
    staging = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(json.dumps(stored.model_dump(), indent=2) + "\n")
    try:
        if replace:
            os.replace(staging, path)
            return True
        try:
            os.link(staging, path)
            return True
        except FileExistsError:
            return False
    finally:
        staging.unlink(missing_ok=True)


def create_key_file(path: Path) -> KeyRing:
    """A new ring with one fresh key, unless the file appeared meanwhile (then that one)."""
    key_id = new_key_id()
    key = base64.b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8)).decode()
    _write_private(path, KeyFile(current=key_id, keys={key_id: key}), replace=False)
    return load_key_ring(path)


def rotate_key_file(path: Path) -> str:
    """Add a fresh key and make it current; older keys stay to decrypt. Returns the new id."""
    load_key_ring(path)  # refuse to rotate a file that does not load
    stored = KeyFile.model_validate_json(path.read_bytes())
    key_id = new_key_id()
    stored.keys[key_id] = base64.b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8)).decode()
    stored.current = key_id
    _write_private(path, stored, replace=True)
    return key_id


def codec_from_settings(settings: Settings, *, create: bool = False) -> EncryptionCodec | None:
    """The configured codec, or None when encryption is switched off.

    With ``create`` (the worker) a missing key file at the default location is generated; a
    missing file someone configured explicitly is an error, never silently replaced."""
    if settings.codec.disabled:
        return None
    if settings.codec.keys:
        return EncryptionCodec(key_ring_from_text(settings.codec.keys))
    path = keys_path(settings)
    if create and settings.codec.keys_file is None and not path.exists():
        return EncryptionCodec(create_key_file(path))
    if create and path.is_file():
        private_file(path)  # a ring an earlier version left readable by others is closed
    return EncryptionCodec(load_key_ring(path))


def main(argv: Sequence[str] | None = None) -> int:
    """``rotate``: add a key and make it current; ``show``: key ids (never keys); ``env``: the
    ring as a ``SLUICE_CODEC_KEYS=...`` line (the key file is created first if it is the
    default one and does not exist yet)."""
    parser = argparse.ArgumentParser(prog="python -m sluice.codec", description=__doc__)
    parser.add_argument("--config", help="configuration file (default: sluice.toml)")
    parser.add_argument("action", choices=["rotate", "show", "env"])
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        path = keys_path(settings)
        if settings.codec.keys and args.action != "show":
            raise CodecError(
                "SLUICE_CODEC_KEYS holds the ring: rotate or export the key file it came from "
                "(SLUICE_CODEC_KEYS_FILE), with SLUICE_CODEC_KEYS unset"
            )
        if settings.codec.keys:
            ring = key_ring_from_text(settings.codec.keys)
            print(
                f"SLUICE_CODEC_KEYS: current key '{ring.current}'; keys: {', '.join(ring.key_ids)}"
            )
        elif args.action == "env":
            if settings.codec.keys_file is None and not path.exists():
                create_key_file(path)
            print(f"SLUICE_CODEC_KEYS={key_ring_env_value(path)}")
        elif args.action == "rotate":
            key_id = rotate_key_file(path)
            print(f"{path}: new current key '{key_id}'; older keys still decrypt")
            print("restart every worker, the codec server and the CLI so they encrypt with it")
        else:
            ring = load_key_ring(path)
            print(f"{path}: current key '{ring.current}'; keys: {', '.join(ring.key_ids)}")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
