"""The codec server over real HTTP on 127.0.0.1: only a token holder sees decrypted payloads,
and a hostile client gets a short refusal, never a hang, a traceback or a decrypted byte."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.api.common.v1 import Payload

from sluice.binaries import temporal_cli
from sluice.codec import ENCODING, KEY_ID, EncryptionCodec, create_key_file
from sluice.codec_server import (
    SESSION_COOKIE,
    CodecServer,
    SessionSigner,
    server_tls,
    start_for_dev,
    token_path,
    usage_lines,
)
from sluice.config import ConfigError, Settings
from sluice.terminal import typed_path

TOKEN = "correct-horse-battery-staple"
UI = "http://localhost:8233"
APPLICANT = {"name": "Margarethe Oyelaran-Vasquez", "date_of_birth": "1984-02-29"}
BEARER = {"Authorization": f"Bearer {TOKEN}"}
# A test waits at most this long for an answer the server owes; only a hang reaches it.
PATIENCE = 10.0


@pytest.fixture
async def server(codec: EncryptionCodec) -> AsyncIterator[CodecServer]:
    running = CodecServer(codec, TOKEN, port=0, ui_origins=[UI])
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def impatient(codec: EncryptionCodec) -> AsyncIterator[CodecServer]:
    """A server with short timeouts and a small size cap, so that slow clients are cut off
    within the test."""
    running = CodecServer(
        codec,
        TOKEN,
        port=0,
        ui_origins=[UI],
        max_body_bytes=64 * 1024,
        read_timeout=0.5,
        idle_timeout=0.5,
    )
    await running.start()
    yield running
    await running.stop()


async def call(
    server: CodecServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    # Cookies go in the headers as a browser would send them; none is kept between calls.
    async with (
        aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=PATIENCE)
        ) as session,
        session.request(
            method, f"http://127.0.0.1:{server.port}{path}", data=body, headers=headers
        ) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def raw_exchange(server: CodecServer, request: bytes) -> bytes:
    """Sends ``request`` as it is (headers only, or a partial body) and returns the server's
    answer up to the end of its headers: it must come without the rest of the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
    finally:
        writer.close()


async def cut_off(reader: asyncio.StreamReader) -> bool:
    """Whether the server closes the connection (within the test's patience)."""
    try:
        await asyncio.wait_for(reader.read(), PATIENCE)
    except ConnectionResetError:
        pass
    return reader.at_eof()


def as_json(*payloads: Payload) -> bytes:
    """The codec protocol's body: protobuf JSON, metadata values and data base64."""
    return json.dumps(
        {
            "payloads": [
                {
                    "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                    "data": base64.b64encode(p.data).decode(),
                }
                for p in payloads
            ]
        }
    ).encode()


def from_json(body: bytes) -> list[Payload]:
    return [
        Payload(
            metadata={k: base64.b64decode(v) for k, v in item.get("metadata", {}).items()},
            data=base64.b64decode(item.get("data", "")),
        )
        for item in json.loads(body)["payloads"]
    ]


def applicant_payload() -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(APPLICANT).encode())


async def sealed(codec: EncryptionCodec) -> bytes:
    return as_json(*(await codec.encode([applicant_payload()])))


async def signed_in_cookie(server: CodecServer, **headers: str) -> str:
    status, answer, _ = await call(server, "POST", "/login", f"token={TOKEN}".encode(), headers)
    assert status == 200
    return answer["Set-Cookie"]


def refusal(body: bytes) -> str:
    """The short JSON error every refusal carries."""
    message = json.loads(body)["error"]
    assert isinstance(message, str) and 0 < len(message) < 200
    return message


# --- who may decode ---------------------------------------------------------------------------


async def test_decoding_without_a_token_is_refused(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    status, headers, body = await call(server, "POST", "/decode", await sealed(codec))
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert b"Oyelaran" not in body
    refusal(body)


async def test_a_wrong_token_is_refused(server: CodecServer, codec: EncryptionCodec) -> None:
    request = await sealed(codec)
    for credential in ({"Authorization": "Bearer guess"}, {"Authorization": TOKEN}):
        assert (await call(server, "POST", "/decode", request, credential))[0] == 401
    wrong_cookie = {"Cookie": f"{SESSION_COOKIE}=guess"}
    assert (await call(server, "POST", "/decode", request, wrong_cookie))[0] == 401


async def test_without_credentials_the_refusal_comes_before_the_body_is_sent(
    server: CodecServer,
) -> None:
    # A megabyte announced and never sent: the answer must not wait for it.
    answer = await raw_exchange(
        server,
        b"POST /decode HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 401")


async def test_a_body_above_the_cap_is_refused_before_it_is_sent(server: CodecServer) -> None:
    answer = await raw_exchange(
        server,
        b"POST /decode HTTP/1.1\r\nHost: localhost\r\n"
        + f"Authorization: Bearer {TOKEN}\r\n".encode()
        + f"Content-Length: {server.max_body_bytes + 1}\r\n\r\n".encode()
        + b'{"payloads": [',
    )
    assert answer.startswith(b"HTTP/1.1 413")


async def test_a_chunked_body_growing_past_the_cap_is_refused(impatient: CodecServer) -> None:
    async def endless() -> AsyncIterator[bytes]:
        yield b'{"payloads": [{"data": "'
        for _ in range(64):  # 4 MiB in all, far past the cap of 64 KiB
            yield b"A" * 65536

    status, _, body = await call(impatient, "POST", "/decode", endless(), BEARER)  # type: ignore[arg-type]
    assert status == 413
    refusal(body)


# --- the browser session ----------------------------------------------------------------------


async def test_a_browser_signed_in_with_the_token_decodes_for_the_ui(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    status, headers, page = await call(server, "POST", "/login", b"token=guess")
    assert status == 401 and "Set-Cookie" not in headers and b"Wrong token" in page

    cookie = await signed_in_cookie(server)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie

    status, headers, body = await call(
        server,
        "POST",
        "/decode?preserveStorageRefs=true",
        await sealed(codec),
        {"Cookie": cookie.split(";", 1)[0], "Origin": UI, "X-Namespace": "default"},
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == UI
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert from_json(body) == [applicant_payload()]


async def test_the_session_cookie_is_signed_expiring_and_never_the_token(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    cookie = await signed_in_cookie(server)
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert TOKEN not in cookie
    assert "Max-Age=43200" in cookie

    request = await sealed(codec)
    expiry, _, signature = value.partition(".")
    forged_later = f"{int(expiry) + 3600}.{signature}"
    expired = SessionSigner(TOKEN).issue(expires_at=int(time.time()) - 1)
    other_token = SessionSigner("another-token").issue()
    altered = value[:-2] + ("yy" if value.endswith("xx") else "xx")  # always a change
    for refused in (forged_later, expired, other_token, f"{expiry}.", altered):
        status, _, body = await call(
            server, "POST", "/decode", request, {"Cookie": f"{SESSION_COOKIE}={refused}"}
        )
        assert status == 401, refused
        assert b"Oyelaran" not in body
    status, _, _ = await call(
        server, "POST", "/decode", request, {"Cookie": f"{SESSION_COOKIE}={value}"}
    )
    assert status == 200


async def test_the_session_cookie_is_secure_behind_tls(server: CodecServer) -> None:
    assert "Secure" not in await signed_in_cookie(server)
    assert "Secure" in await signed_in_cookie(server, **{"X-Forwarded-Proto": "https"})


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_served_over_tls_the_session_cookie_is_secure(
    codec: EncryptionCodec, tmp_path: Path
) -> None:
    cert_file, key_file = self_signed_certificate(tmp_path)
    server = CodecServer(codec, TOKEN, port=0, tls=server_tls(cert_file, key_file))
    await server.start()
    try:
        assert server.endpoint.startswith("https://")
        trusting = ssl.create_default_context(cafile=cert_file)
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
            session.post(
                f"https://127.0.0.1:{server.port}/login", data=f"token={TOKEN}", ssl=trusting
            ) as response,
        ):
            assert response.status == 200
            assert "Secure" in response.headers["Set-Cookie"]
    finally:
        await server.stop()
    with pytest.raises(ConfigError, match="together"):
        server_tls(cert_file, None)
    with pytest.raises(ConfigError, match="cannot use"):
        server_tls(key_file, cert_file)


async def test_a_signed_in_cookie_sent_from_another_origin_is_refused(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    cookie = (await signed_in_cookie(server)).split(";", 1)[0]
    status, headers, body = await call(
        server,
        "POST",
        "/decode",
        await sealed(codec),
        {"Cookie": cookie, "Origin": "http://localhost:3000"},
    )
    assert status == 403 and b"Oyelaran" not in body
    assert "Access-Control-Allow-Origin" not in headers


async def test_the_ui_preflight_is_answered_for_the_ui_origin_only(server: CodecServer) -> None:
    status, headers, _ = await call(
        server,
        "OPTIONS",
        "/decode",
        headers={
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == UI
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed = headers["Access-Control-Allow-Headers"].lower()
    assert all(name in allowed for name in ("authorization", "content-type", "x-namespace"))

    status, headers, _ = await call(
        server, "OPTIONS", "/decode", headers={"Origin": "http://evil.example"}
    )
    assert status == 403
    assert "Access-Control-Allow-Origin" not in headers


# --- what it converts -------------------------------------------------------------------------


async def test_a_token_holder_sees_the_original_payload(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    request = await sealed(codec)
    for path in ("/decode", "/default/decode", "/codec/default/decode"):
        status, _, body = await call(
            server,
            "POST",
            path,
            request,
            {**BEARER, "Content-Type": "application/json", "X-Namespace": "default"},
        )
        assert status == 200, path
        assert from_json(body) == [applicant_payload()]


async def test_encode_seals_with_the_current_key_and_decode_opens_it(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    status, _, body = await call(server, "POST", "/encode", as_json(applicant_payload()), BEARER)
    assert status == 200
    [encrypted] = from_json(body)
    assert encrypted.metadata[KEY_ID] == codec.ring.current.encode()
    assert b"Oyelaran" not in encrypted.data
    status, _, body = await call(server, "POST", "/decode", as_json(encrypted), BEARER)
    assert status == 200
    assert from_json(body) == [applicant_payload()]


async def test_plain_payloads_come_back_unchanged(server: CodecServer) -> None:
    status, _, body = await call(server, "POST", "/decode", as_json(applicant_payload()), BEARER)
    assert status == 200 and from_json(body) == [applicant_payload()]


async def test_a_payload_sealed_with_a_key_not_in_the_ring_names_that_key(
    server: CodecServer, tmp_path: Path
) -> None:
    stranger = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    status, _, body = await call(server, "POST", "/decode", await sealed(stranger), BEARER)
    assert status == 400
    message = refusal(body)
    assert stranger.ring.current in message
    assert "keys.json" not in message  # the server's own files are not the sender's business


def encrypted_looking(codec: EncryptionCodec, data: bytes, key_id: str | None = None) -> bytes:
    metadata = {"encoding": ENCODING, KEY_ID: (key_id or codec.ring.current).encode()}
    return as_json(Payload(metadata=metadata, data=data))


HOSTILE_BODIES = {
    "not json": lambda codec: b"{",
    "not utf-8": lambda codec: b'{"payloads": [\xff\xfe]}',
    "deeply nested": lambda codec: b"[" * 100_000,
    "payloads not a list": lambda codec: b'{"payloads": 5}',
    "bad base64": lambda codec: b'{"payloads": [{"data": "Q"}]}',
    "no ciphertext at all": lambda codec: encrypted_looking(codec, b""),
    "shorter than a nonce": lambda codec: encrypted_looking(codec, b"abc"),
    "nonce without a tag": lambda codec: encrypted_looking(codec, b"n" * 12),
    "garbled ciphertext": lambda codec: encrypted_looking(codec, b"g" * 64),
    "unknown, very long key id": lambda codec: encrypted_looking(codec, b"x" * 40, "k" * 10_000),
    "no key id": lambda codec: as_json(Payload(metadata={"encoding": ENCODING}, data=b"x" * 40)),
}


@pytest.mark.parametrize("case", list(HOSTILE_BODIES))
async def test_a_garbled_request_gets_400_with_a_short_json_error(
    server: CodecServer, codec: EncryptionCodec, case: str
) -> None:
    status, headers, body = await call(
        server, "POST", "/decode", HOSTILE_BODIES[case](codec), BEARER
    )
    assert status == 400, case
    assert headers["Content-Type"].startswith("application/json")
    refusal(body)
    # The server is still answering.
    assert (await call(server, "GET", "/health"))[0] == 200


async def test_other_routes_and_methods_are_refused_in_json(server: CodecServer) -> None:
    status, headers, body = await call(server, "GET", "/decode", headers=BEARER)
    assert status == 405 and "POST" in headers["Allow"]
    refusal(body)
    for method, path in (("POST", "/download"), ("GET", "/admin"), ("POST", "/decoder")):
        status, _, body = await call(server, method, path, b"{}", BEARER)
        assert status == 404, path
        refusal(body)


async def test_health_needs_no_token(server: CodecServer) -> None:
    status, _, body = await call(server, "GET", "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}


# --- slow clients -----------------------------------------------------------------------------


async def test_a_client_sending_its_headers_slowly_is_cut_off(impatient: CodecServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", impatient.port)
    writer.write(b"POST /decode HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")

    async def one_byte_of_a_header_at_a_time() -> None:
        for _ in range(int(PATIENCE * 10)):
            writer.write(b"z")
            await writer.drain()
            await asyncio.sleep(0.1)

    dribbling = asyncio.create_task(one_byte_of_a_header_at_a_time())
    try:
        assert await cut_off(reader)
    finally:
        dribbling.cancel()
        writer.close()


async def test_an_idle_connection_is_closed(impatient: CodecServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", impatient.port)
    try:
        assert await cut_off(reader)
    finally:
        writer.close()


async def test_a_client_sending_its_body_slowly_is_cut_off(impatient: CodecServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", impatient.port)
    writer.write(
        b"POST /decode HTTP/1.1\r\nHost: localhost\r\n"
        + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n".encode()
    )

    async def one_byte_at_a_time() -> None:
        for _ in range(int(PATIENCE * 10)):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.1)

    dribbling = asyncio.create_task(one_byte_at_a_time())
    try:
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
        assert answer.startswith(b"HTTP/1.1 408")
        assert await cut_off(reader)
    finally:
        dribbling.cancel()
        writer.close()


# --- what it writes down ----------------------------------------------------------------------


async def test_neither_payloads_nor_the_token_reach_the_log(
    server: CodecServer, codec: EncryptionCodec, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await call(server, "POST", "/decode", await sealed(codec), BEARER)
    await call(server, "POST", "/encode", as_json(applicant_payload()), BEARER)
    await call(server, "POST", "/login", f"token={TOKEN}".encode())
    await call(server, "POST", "/decode", encrypted_looking(codec, b"abc"), BEARER)
    assert caplog.records, "the server logs its requests"
    assert "Oyelaran" not in caplog.text
    assert TOKEN not in caplog.text


# --- worker.py --dev --------------------------------------------------------------------------


async def test_the_dev_codec_server_makes_a_token_and_admits_the_embedded_ui(
    settings: Settings, codec: EncryptionCodec, tmp_path: Path
) -> None:
    settings.codec.keys_file = tmp_path / "codec" / "keys.json"
    settings.codec.server_port = 0
    server = await start_for_dev(settings, codec, ui_port=18233)
    try:
        token = token_path(settings).read_text(encoding="utf-8").strip()
        assert len(token) >= 32 and token_path(settings).stat().st_mode & 0o077 == 0
        status, headers, _ = await call(
            server,
            "OPTIONS",
            "/decode",
            headers={"Origin": "http://localhost:18233", "Access-Control-Request-Method": "POST"},
        )
        assert status == 204 and headers["Access-Control-Allow-Origin"] == "http://localhost:18233"
        printed = "\n".join(usage_lines(settings, server))
        assert server.endpoint in printed and str(token_path(settings)) in printed
        assert token not in printed
        # The CLI line names the temporal binary that is installed, as typed from here.
        assert f"CLI: {typed_path(temporal_cli())} workflow show -w WORKFLOW_ID" in printed

        # A second worker on the same machine is told which setting to change.
        settings.codec.server_port = server.port
        with pytest.raises(ConfigError, match="SLUICE_CODEC_PORT"):
            await start_for_dev(settings, codec, ui_port=18233)
    finally:
        await server.stop()
