"""The payload store on its own: what lands on disk (or in the bucket), what the claim in
history carries, and how a damaged, missing or foreign blob is refused."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.converter import (
    DataConverter,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverSelectContext,
    StorageDriverStoreContext,
)

from sluice.codec import ENCODING, EncryptionCodec, create_key_file, refusal_of
from sluice.config import ConfigError, Settings, load_settings
from sluice.converter import sluice_data_converter, worker_data_converter
from sluice.payload_store import (
    LOCAL_DRIVER,
    LocalPayloadStore,
    PayloadStoreError,
    payload_storage,
    store_directory,
)

APPLICANT = "Margarethe Oyelaran-Vasquez"


def scan_text(size: int = 400_000) -> str:
    """A transcribed scan large enough to leave the history (the default threshold: 256 KiB)."""
    line = f"Name of holder: {APPLICANT} / Passport No: X99120 / "
    return (line * (size // len(line) + 1))[:size]


def stored_files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


async def store_one(store: LocalPayloadStore, payload: Payload) -> StorageDriverClaim:
    [claim] = await store.store(StorageDriverStoreContext(), [payload])
    return claim


async def retrieve_one(store: LocalPayloadStore, claim: StorageDriverClaim) -> Payload:
    [payload] = await store.retrieve(StorageDriverRetrieveContext(), [claim])
    return payload


@pytest.fixture
def local_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var")


@pytest.fixture
def converter(local_settings: Settings, tmp_path: Path) -> DataConverter:
    codec = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    return sluice_data_converter(codec, payload_storage(local_settings))


async def test_a_stored_payload_comes_back_and_its_claim_carries_only_the_hash(
    tmp_path: Path,
) -> None:
    store = LocalPayloadStore(tmp_path / "payloads")
    original = Payload(metadata={"encoding": b"json/plain"}, data=scan_text().encode())

    claim = await store_one(store, original)

    assert set(claim.claim_data) == {"hash_algorithm", "hash_value"}
    assert claim.claim_data["hash_algorithm"] == "sha256"
    assert APPLICANT not in str(claim.claim_data)
    assert await retrieve_one(store, claim) == original


async def test_the_same_payload_is_written_once_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    store = LocalPayloadStore(tmp_path / "payloads")
    payload = Payload(metadata={"encoding": b"json/plain"}, data=scan_text().encode())

    first, second = await asyncio.gather(store_one(store, payload), store_one(store, payload))

    assert first == second
    (file,) = stored_files(tmp_path / "payloads")
    assert file == store.path_of(first.claim_data["hash_value"])
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700


async def test_a_tampered_blob_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    store = LocalPayloadStore(tmp_path / "payloads")
    claim = await store_one(store, Payload(data=scan_text().encode()))
    path = store.path_of(claim.claim_data["hash_value"])
    altered = bytearray(path.read_bytes())
    altered[1000] ^= 0x01
    path.write_bytes(bytes(altered))

    with pytest.raises(PayloadStoreError) as refused:
        await retrieve_one(store, claim)

    assert str(refused.value) == (
        f"{path}: stored payload does not match its SHA-256 (altered or damaged since it was "
        "stored); refusing it"
    )


async def test_a_missing_blob_says_the_store_must_be_shared(tmp_path: Path) -> None:
    writer = LocalPayloadStore(tmp_path / "worker-a")
    claim = await store_one(writer, Payload(data=scan_text().encode()))
    reader = LocalPayloadStore(tmp_path / "worker-b")

    with pytest.raises(PayloadStoreError, match="not found; every worker and the CLI must share"):
        await retrieve_one(reader, claim)


@pytest.mark.parametrize(
    "claim_data",
    [
        {"hash_algorithm": "sha256", "hash_value": "../../../etc/passwd"},
        {"hash_algorithm": "md5", "hash_value": "0" * 64},
        {"bucket": "payloads", "key": "v0/d/sha256/" + "0" * 64},
    ],
)
async def test_a_claim_the_store_did_not_write_reads_no_file(
    tmp_path: Path, claim_data: dict[str, str]
) -> None:
    store = LocalPayloadStore(tmp_path / "payloads")
    with pytest.raises(PayloadStoreError, match="not a claim of the local payload store"):
        await retrieve_one(store, StorageDriverClaim(claim_data=claim_data))


async def test_large_payloads_are_encrypted_before_they_are_stored(
    converter: DataConverter, local_settings: Settings
) -> None:
    document = {"holder": APPLICANT, "text": scan_text()}

    [in_history] = await converter.encode([document])

    # The history keeps a claim a few hundred bytes long, naming our store and a hash.
    assert in_history.ByteSize() < 1024
    assert APPLICANT.encode() not in in_history.SerializeToString()
    assert LOCAL_DRIVER.encode() in in_history.data
    (file,) = stored_files(store_directory(local_settings))
    blob = file.read_bytes()
    assert Payload.FromString(blob).metadata["encoding"] == ENCODING
    assert APPLICANT.encode() not in blob and b"X99120" not in blob
    assert await converter.decode([in_history], [dict]) == [document]


async def test_a_worker_refuses_an_altered_payload_by_marker_and_still_reads_the_others(
    converter: DataConverter, local_settings: Settings
) -> None:
    """What a worker does with a signal whose stored payload was altered: that payload
    becomes a refusal its handler records, the others of the same activation are read."""
    kept, altered = await converter.encode([{"text": scan_text()}, {"text": scan_text(300_000)}])
    for file in stored_files(store_directory(local_settings)):
        if file.stat().st_size < 350_000:
            blob = file.read_bytes()  # flipped: set to 0, it stayed as it was once in 256
            file.write_bytes(blob[:-1] + bytes([blob[-1] ^ 0x01]))
    worker = worker_data_converter(converter)

    read, refused = await worker.decode([kept, altered], [RawValue, RawValue])

    assert json.loads(read.payload.data) == {"text": scan_text()}
    assert refusal_of(refused.payload) == (
        "a large-payload claim was refused: stored payload does not match its SHA-256 "
        "(altered or damaged since it was stored); refusing it"
    )
    # A client (the CLI) keeps the strict converter: it names the file to look at.
    with pytest.raises(PayloadStoreError, match="does not match its SHA-256"):
        await converter.decode([altered], [dict])


async def test_small_payloads_stay_in_the_history(
    converter: DataConverter, local_settings: Settings
) -> None:
    [in_history] = await converter.encode([{"holder": APPLICANT}])

    assert in_history.metadata["encoding"] == ENCODING
    assert not store_directory(local_settings).exists()


def test_configuration_chooses_s3_and_keeps_the_local_store_readable(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "SLUICE_DATA_DIR": str(tmp_path / "var"),
            "SLUICE_PAYLOAD_STORE": "s3",
            "SLUICE_PAYLOAD_S3_BUCKET": "kyc-scans",
            "SLUICE_PAYLOAD_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "SLUICE_PAYLOAD_THRESHOLD_BYTES": "100000",
        }
    )
    storage = payload_storage(settings)

    # Runs started before the switch still find their payloads in the local folder.
    assert [driver.name() for driver in storage.drivers] == ["aws.s3driver", LOCAL_DRIVER]
    assert storage.driver_selector is not None
    assert storage.driver_selector(StorageDriverSelectContext(), Payload()) is storage.drivers[0]
    assert storage.payload_size_threshold == 100_000


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        (
            {"SLUICE_PAYLOAD_STORE": "s3"},
            "payloads: Value error, store 's3' needs s3_bucket (SLUICE_PAYLOAD_S3_BUCKET)",
        ),
        ({"SLUICE_PAYLOAD_STORE": "disk"}, "payloads.store: Input should be 'local' or 's3'"),
        (
            {"SLUICE_PAYLOAD_THRESHOLD_BYTES": str(4 * 1024 * 1024)},
            "payloads.threshold_bytes: Input should be less than or equal to 2097152",
        ),
    ],
)
def test_an_unusable_store_configuration_is_refused_by_name(
    environ: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(environ=environ)
    assert str(refused.value).endswith(problem)


# --- the S3 store, against moto's S3 server on 127.0.0.1 ---------------------------------------


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real S3 wire-protocol server on the loopback, with throwaway credentials."""
    from moto.server import ThreadedMotoServer

    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "sluice-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sluice-test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def bucket_objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    import aioboto3

    async with aioboto3.Session().client("s3", endpoint_url=endpoint) as s3:
        listing = await s3.list_objects_v2(Bucket=bucket)
        objects = {}
        for entry in listing.get("Contents", []):
            response = await s3.get_object(Bucket=bucket, Key=entry["Key"])
            objects[entry["Key"]] = await response["Body"].read()
        return objects


async def test_the_s3_store_holds_ciphertext_under_its_prefix_and_gives_it_back(
    s3_endpoint: str, tmp_path: Path
) -> None:
    import aioboto3

    async with aioboto3.Session().client("s3", endpoint_url=s3_endpoint) as s3:
        await s3.create_bucket(
            Bucket="kyc-scans", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )
    settings = Settings(data_dir=tmp_path / "var")
    settings.payloads.store = "s3"
    settings.payloads.s3_bucket = "kyc-scans"
    settings.payloads.s3_prefix = "sluice/payloads/"
    settings.payloads.s3_endpoint_url = s3_endpoint
    codec = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    converter = sluice_data_converter(codec, payload_storage(settings))
    document = {"holder": APPLICANT, "text": scan_text()}

    [in_history] = await converter.encode([document])

    assert in_history.ByteSize() < 1024
    assert APPLICANT.encode() not in in_history.SerializeToString()
    ((key, blob),) = (await bucket_objects(s3_endpoint, "kyc-scans")).items()
    assert key.startswith("sluice/payloads/v0/d/sha256/")
    assert Payload.FromString(blob).metadata["encoding"] == ENCODING
    assert APPLICANT.encode() not in blob and b"X99120" not in blob
    assert not store_directory(settings).exists()
    assert await converter.decode([in_history], [dict]) == [document]
