"""Large payloads outside the run's history: a scanned PDF of several megabytes moves through
a workflow although Temporal refuses any payload above 2 MB.

Every payload of at least ``[payloads] threshold_bytes`` goes to a payload store, and the
history keeps a small claim in its place: the store's name and the SHA-256 of what was
stored, nothing else. The SDK applies our codec *before* it hands a payload to the store,
so a stored payload is ciphertext, like the history. Workers and the CLI must use the
same store: what one of them stores, the others read back (and so does every replay).

- ``local`` (the embedded default): content-addressed files under ``{data_dir}/payloads``,
  written atomically, checked against their hash when read. Works where the workers and the
  CLI share that folder (one machine, or a shared mount).
- ``s3``: an S3-compatible bucket (AWS S3, MinIO, ...) through the SDK's S3 driver
  (``pip install 'sluice[s3]'``). The local folder stays readable, so runs started before a
  switch to S3 still replay.

Stored payloads are never deleted here: a history that references one needs it to replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from temporalio.api.common.v1 import Payload
from temporalio.contrib.aws.s3driver import S3StorageDriver, S3StorageDriverClient
from temporalio.converter import (
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from sluice.codec import unreadable
from sluice.config import ConfigError, PayloadSettings, Settings
from sluice.private_files import private_folder

# The name is written into every claim in history: changing it strands stored payloads.
LOCAL_DRIVER = "sluice.local"
HASH_ALGORITHM = "sha256"
_DIGEST = re.compile(r"[0-9a-f]{64}")

log = logging.getLogger(__name__)


class PayloadStoreError(Exception):
    """A stored payload cannot be given back: missing, altered since it was stored, or a
    claim this store did not write. Names the file, never the payload's content;
    ``problem`` says what was wrong without the file's path."""

    def __init__(self, problem: str, path: Path | None = None, advice: str = "") -> None:
        self.problem = problem
        where = f"{path}: " if path is not None else ""
        super().__init__(f"{where}{problem}{f'; {advice}' if advice else ''}")


class LocalPayloadStore(StorageDriver):
    """Payloads as files named by their SHA-256, under one folder every process shares."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # Folders an earlier version left open to other users are closed on start.
        for folder in (directory, directory / HASH_ALGORITHM):
            if folder.is_dir():
                private_folder(folder)

    def name(self) -> str:
        return LOCAL_DRIVER

    def type(self) -> str:
        return "sluice.local-directory"

    def path_of(self, digest: str) -> Path:
        """Where the payload with this SHA-256 lives (two-level fan-out keeps folders small)."""
        return self.directory / HASH_ALGORITHM / digest[:2] / digest

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        """Write each payload once; the claim carries its hash, never its content."""
        return [
            await asyncio.to_thread(self._write, payload.SerializeToString())
            for payload in payloads
        ]

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """The payloads the claims name, each checked against its hash."""
        return [await asyncio.to_thread(self._read, claim.claim_data) for claim in claims]

    def _write(self, blob: bytes) -> StorageDriverClaim:
        digest = hashlib.sha256(blob).hexdigest()
        path = self.path_of(digest)
        if not path.exists():
            private_folder(path.parent)
            # Written beside its final name and renamed into place: a reader never sees half
            # a file, and two writers of the same content both end with the same file.
            staging = path.with_name(f".{digest}.{secrets.token_hex(4)}")
            descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(blob)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(staging, path)
            finally:
                staging.unlink(missing_ok=True)
        return StorageDriverClaim(
            claim_data={"hash_algorithm": HASH_ALGORITHM, "hash_value": digest}
        )

    def _read(self, claim: Mapping[str, str]) -> Payload:
        digest = claim.get("hash_value", "")
        if claim.get("hash_algorithm") != HASH_ALGORITHM or not _DIGEST.fullmatch(digest):
            raise PayloadStoreError(
                f"not a claim of the local payload store (hash {claim.get('hash_algorithm')!r})"
            )
        path = self.path_of(digest)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise PayloadStoreError(
                "stored payload not found",
                path,
                "every worker and the CLI must share the payload store ([payloads] directory, "
                "or store = 's3')",
            ) from None
        if hashlib.sha256(blob).hexdigest() != digest:
            raise PayloadStoreError(
                "stored payload does not match its SHA-256 (altered or damaged since it was "
                "stored); refusing it",
                path,
            )
        return Payload.FromString(blob)


class RefusingClaims(StorageDriver):
    """``store`` as a worker reads it: a claim the store refuses comes back as an
    ``unreadable`` marker instead of an error.

    The SDK fetches every claim of a workflow activation before the workflow sees any of
    it, so one forged claim in a signal (a made-up hash, another algorithm, a file altered
    on disk) would otherwise fail that activation and every later workflow task of the run.
    The marker reaches the message's handler, which refuses it on the record, as it does a
    payload that does not decrypt. Only the store's own refusals are marked: an error that
    may pass (a full disk, a network) still fails the task, so that its retry reads the
    payload once it can."""

    def __init__(self, store: StorageDriver) -> None:
        self.store_driver = store

    def name(self) -> str:
        return self.store_driver.name()

    def type(self) -> str:
        return self.store_driver.type()

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        return await self.store_driver.store(context, payloads)

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        try:
            return await self.store_driver.retrieve(context, claims)
        except PayloadStoreError:
            # Only then one by one, to mark exactly the claims that are refused.
            return [await self._retrieve_one(context, claim) for claim in claims]

    async def _retrieve_one(
        self, context: StorageDriverRetrieveContext, claim: StorageDriverClaim
    ) -> Payload:
        try:
            [payload] = await self.store_driver.retrieve(context, [claim])
        except PayloadStoreError as err:
            log.warning("a payload claim was refused: %s", err)
            return unreadable(f"a large-payload claim was refused: {err.problem}")
        return payload


def refusing_claims(storage: ExternalStorage) -> ExternalStorage:
    """``storage`` as workers use it: the local store's refusals become markers (see
    ``RefusingClaims``); other drivers are left as they are."""
    drivers = [
        RefusingClaims(driver) if isinstance(driver, LocalPayloadStore) else driver
        for driver in storage.drivers
    ]
    return dataclasses.replace(storage, drivers=drivers)


def store_directory(settings: Settings) -> Path:
    """The local store's folder: the configured one, or ``{data_dir}/payloads``."""
    return settings.payload_dir


def store_location(settings: Settings) -> str:
    """Where payloads above the threshold go, for a person to read."""
    payloads = settings.payloads
    if payloads.store == "s3":
        where = f"s3://{payloads.s3_bucket}/{payloads.s3_prefix.strip('/')}"
    else:
        where = str(store_directory(settings))
    return f"{where} (payloads of {payloads.threshold_bytes} bytes or more)"


def payload_storage(settings: Settings) -> ExternalStorage:
    """The external storage every client and worker of these settings uses."""
    local = LocalPayloadStore(store_directory(settings))
    threshold = settings.payloads.threshold_bytes
    if settings.payloads.store == "local":
        return ExternalStorage(drivers=[local], payload_size_threshold=threshold)
    bucket = s3_payload_store(settings.payloads)
    return ExternalStorage(
        drivers=[bucket, local],
        driver_selector=lambda _context, _payload: bucket,
        payload_size_threshold=threshold,
    )


def s3_payload_store(settings: PayloadSettings) -> StorageDriver:
    """The SDK's S3 driver on the configured bucket; needs the ``s3`` extra (aioboto3)."""
    try:
        import aioboto3
    except ImportError:
        raise ConfigError(
            "[payloads] store = 's3' needs aioboto3: pip install 'sluice[s3]'"
        ) from None
    assert settings.s3_bucket is not None  # PayloadSettings refuses s3 without a bucket
    return S3StorageDriver(
        client=_S3Bucket(aioboto3.Session(), settings), bucket=settings.s3_bucket
    )


class _S3Bucket(S3StorageDriverClient):
    """An S3 client that opens a client per operation under ``s3_prefix``.

    A client per operation because the converter is built before any event loop runs and
    lives as long as the process; only payloads above the threshold come here, so the cost
    of opening one is small beside the upload."""

    def __init__(self, session: Any, settings: PayloadSettings) -> None:
        self._session = session
        self._settings = settings

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        from botocore.config import Config
        from temporalio.contrib.aws.s3driver.aioboto3 import new_aioboto3_client

        # MinIO-style stores answer on their own host, not on bucket subdomains.
        addressing: Literal["path", "auto"] = "path" if self._settings.s3_endpoint_url else "auto"
        async with self._session.client(
            "s3",
            endpoint_url=self._settings.s3_endpoint_url,
            region_name=self._settings.s3_region,
            config=Config(s3={"addressing_style": addressing}),
        ) as s3:
            yield new_aioboto3_client(s3)

    def _key(self, key: str) -> str:
        # The claim holds the SDK's key without the prefix: changing s3_prefix later
        # strands what was stored under the old one.
        prefix = self._settings.s3_prefix.strip("/")
        return f"{prefix}/{key}" if prefix else key

    async def put_object(self, *, bucket: str, key: str, data: bytes) -> None:
        async with self._client() as s3:
            await s3.put_object(bucket=bucket, key=self._key(key), data=data)

    async def object_exists(self, *, bucket: str, key: str) -> bool:
        async with self._client() as s3:
            return await s3.object_exists(bucket=bucket, key=self._key(key))

    async def get_object(self, *, bucket: str, key: str) -> bytes:
        async with self._client() as s3:
            return await s3.get_object(bucket=bucket, key=self._key(key))

    def describe(self) -> Mapping[str, str]:
        where = {"endpoint": self._settings.s3_endpoint_url, "region": self._settings.s3_region}
        return {name: value for name, value in where.items() if value}
