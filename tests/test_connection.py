"""Connecting to Temporal: the plain path against the dev server, and the TLS / mTLS / API
key settings a hosted or self-hosted cluster needs, from configuration or worker flags."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from sluice.client import TemporalUnreachable, connect, tls_config
from sluice.config import ConfigError, Settings, TemporalSettings
from sluice.connection_flags import add_connection_flags, apply_connection_flags


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sluice-worker")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "client.pem", folder / "client.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_plain_connection_to_the_dev_server(dev_env: WorkflowEnvironment) -> None:
    address = dev_env.client.service_client.config.target_host
    client = await connect(TemporalSettings(address=address, namespace="default"))
    assert await client.service_client.check_health()
    assert client.namespace == "default"


async def test_unreachable_server_is_named_in_one_line() -> None:
    with pytest.raises(TemporalUnreachable, match=r"cannot reach Temporal at 127\.0\.0\.1:1"):
        await connect(TemporalSettings(address="127.0.0.1:1"))


def test_mtls_settings_carry_the_certificate_files(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    settings = TemporalSettings(
        address="sluice.a1b2c.tmprl.cloud:7233",
        namespace="sluice.a1b2c",
        tls_client_cert=cert,
        tls_client_key=key,
        tls_server_name="sluice.a1b2c.tmprl.cloud",
    )
    tls = tls_config(settings)
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == cert.read_bytes() and tls.client_private_key == key.read_bytes()
    assert tls.domain == "sluice.a1b2c.tmprl.cloud"


def test_an_api_key_implies_tls_and_nothing_means_plain() -> None:
    assert tls_config(TemporalSettings(api_key="secret")) is True
    assert tls_config(TemporalSettings()) is False


def test_half_an_mtls_pair_or_a_missing_file_is_a_clear_configuration_error(
    tmp_path: Path,
) -> None:
    cert, _ = self_signed(tmp_path)
    with pytest.raises(ConfigError, match="needs both"):
        tls_config(TemporalSettings(tls_client_cert=cert))
    with pytest.raises(ConfigError, match=r"TEMPORAL_TLS_SERVER_CA_CERT_PATH: .*nope\.pem"):
        tls_config(TemporalSettings(tls_server_ca=tmp_path / "nope.pem"))


def test_worker_flags_override_the_environment_and_keep_the_key_off_the_command_line(
    tmp_path: Path,
) -> None:
    cert, key = self_signed(tmp_path)
    key_file = tmp_path / "api-key"
    key_file.write_text("tc-key-123\n")
    settings = Settings()
    parser = argparse.ArgumentParser()
    add_connection_flags(parser)
    args = parser.parse_args(
        [
            *("--address", "ns.acct.tmprl.cloud:7233", "--namespace", "ns.acct"),
            *("--task-queue", "sluice-eu", "--tls-cert-path", str(cert)),
            *("--tls-key-path", str(key), "--api-key-file", str(key_file)),
        ]
    )
    apply_connection_flags(settings.temporal, args)
    assert settings.temporal.address == "ns.acct.tmprl.cloud:7233"
    assert settings.temporal.task_queue == "sluice-eu"
    assert settings.temporal.api_key == "tc-key-123"
    assert isinstance(tls_config(settings.temporal), TLSConfig)
