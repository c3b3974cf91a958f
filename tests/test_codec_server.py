"""The codec server over real HTTP: only a token holder sees decrypted payloads."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from sluice.codec import KEY_ID, EncryptionCodec, create_key_file
from sluice.codec_server import SESSION_COOKIE, CodecServer

TOKEN = "correct-horse-battery-staple"
UI = "http://localhost:8233"
APPLICANT = {"name": "Margarethe Oyelaran-Vasquez", "date_of_birth": "1984-02-29"}

# Straight to 127.0.0.1, whatever proxy the environment names.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def server(codec: EncryptionCodec) -> Iterator[CodecServer]:
    running = CodecServer(codec, TOKEN, port=0, ui_origins=[UI])
    running.start()
    yield running
    running.stop()


def call(
    server: CodecServer,
    method: str,
    path: str,
    body: bytes | None = None,
    **headers: str,
) -> tuple[int, dict[str, str], bytes]:
    url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    request = urllib.request.Request(url, data=body, method=method, headers=named)
    try:
        with _http.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


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


async def test_decoding_without_a_token_is_refused(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    status, headers, body = call(server, "POST", "/decode", await sealed(codec))
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert b"Oyelaran" not in body


async def test_a_wrong_token_is_refused(server: CodecServer, codec: EncryptionCodec) -> None:
    request = await sealed(codec)
    assert call(server, "POST", "/decode", request, Authorization="Bearer guess")[0] == 401
    assert call(server, "POST", "/decode", request, Authorization=TOKEN)[0] == 401
    wrong_cookie = f"{SESSION_COOKIE}=guess"
    assert call(server, "POST", "/decode", request, Cookie=wrong_cookie)[0] == 401


async def test_a_token_holder_sees_the_original_payload(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    request = await sealed(codec)
    for path in ("/decode", "/default/decode"):
        status, _, body = call(
            server,
            "POST",
            path,
            request,
            Authorization=f"Bearer {TOKEN}",
            Content_Type="application/json",
            X_Namespace="default",
        )
        assert status == 200
        assert from_json(body) == [applicant_payload()]


def test_encode_seals_with_the_current_key_and_decode_opens_it(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    auth = f"Bearer {TOKEN}"
    status, _, body = call(
        server, "POST", "/encode", as_json(applicant_payload()), Authorization=auth
    )
    assert status == 200
    [encrypted] = from_json(body)
    assert encrypted.metadata[KEY_ID] == codec.ring.current.encode()
    assert b"Oyelaran" not in encrypted.data
    status, _, body = call(server, "POST", "/decode", as_json(encrypted), Authorization=auth)
    assert from_json(body) == [applicant_payload()]


def test_plain_payloads_come_back_unchanged(server: CodecServer) -> None:
    request = as_json(applicant_payload())
    status, _, body = call(server, "POST", "/decode", request, Authorization=f"Bearer {TOKEN}")
    assert status == 200 and from_json(body) == [applicant_payload()]


def test_the_ui_preflight_is_answered_for_the_ui_origin_only(server: CodecServer) -> None:
    status, headers, _ = call(
        server,
        "OPTIONS",
        "/decode",
        Origin=UI,
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="content-type,x-namespace",
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == UI
    assert headers["Access-Control-Allow-Credentials"] == "true"
    allowed = headers["Access-Control-Allow-Headers"].lower()
    assert all(name in allowed for name in ("authorization", "content-type", "x-namespace"))

    status, headers, _ = call(server, "OPTIONS", "/decode", Origin="http://evil.example")
    assert status == 403
    assert "Access-Control-Allow-Origin" not in headers


async def test_a_browser_signed_in_with_the_token_decodes_for_the_ui(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    status, headers, page = call(server, "POST", "/login", b"token=guess")
    assert status == 401 and "Set-Cookie" not in headers and b"Wrong token" in page

    status, headers, _ = call(server, "POST", "/login", f"token={TOKEN}".encode())
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie

    status, headers, body = call(
        server,
        "POST",
        "/decode?preserveStorageRefs=true",
        await sealed(codec),
        Cookie=cookie.split(";", 1)[0],
        Origin=UI,
        X_Namespace="default",
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == UI
    assert from_json(body) == [applicant_payload()]


async def test_a_payload_sealed_with_a_key_not_in_the_ring_names_that_key(
    server: CodecServer, tmp_path: Path
) -> None:
    stranger = EncryptionCodec(create_key_file(tmp_path / "keys.json"))
    status, _, body = call(
        server, "POST", "/decode", await sealed(stranger), Authorization=f"Bearer {TOKEN}"
    )
    assert status == 400
    assert stranger.ring.current in json.loads(body)["error"]


def test_a_malformed_request_gets_a_clear_answer(server: CodecServer) -> None:
    status, _, body = call(server, "POST", "/decode", b"{", Authorization=f"Bearer {TOKEN}")
    assert status == 400 and "not a codec request" in json.loads(body)["error"]


def test_health_needs_no_token(server: CodecServer) -> None:
    status, _, body = call(server, "GET", "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
