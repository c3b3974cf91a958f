"""Loading full OpenSanctions exports: the FollowTheMoney JSON lines format beside the CSV,
from a file or a URL (a server on 127.0.0.1), their version and date in every screening, and
a refresh that swaps the list without stopping screening and without losing it on failure."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from activities.connectors.sanctions import (
    EmbeddedSanctionsList,
    QueryEvidence,
    RefreshingSanctionsList,
    ScreeningUnavailable,
    sanctions_list_from_config,
)
from sluice.config import ConfigError, load_settings


def ftm(entity_id: str, schema: str, **properties: list[str]) -> dict[str, Any]:
    return {
        "id": entity_id,
        "schema": schema,
        "caption": (properties.get("name") or [entity_id])[0],
        "properties": properties,
        "datasets": ["us_ofac_sdn"],
        "target": True,
        "last_change": "2026-11-20T08:00:00",
    }


FTM_LINES = [
    ftm("NK-1", "Person", name=["Georgios Papadopoulos"], birthDate=["1961-04-12"],
        nationality=["gr"], topics=["sanction"]),
    ftm("NK-2", "Company", name=["Caspian Meridian Shipping LLC"], alias=["Kaspiy Meridian"],
        country=["ru"], topics=["sanction"]),
    # Not screened: an address, a sanction record, and a person who is not a target.
    {"id": "addr-1", "schema": "Address", "properties": {"full": ["1 Main St"]}},
    {"id": "san-1", "schema": "Sanction", "properties": {"entity": ["NK-1"]}},
    {**ftm("NK-3", "Person", name=["Someone Related"]), "target": False},
    {**ftm("NK-4", "Person", firstName=["Ivan"], lastName=["Petrov"]),
     "last_change": "2026-11-28T10:00:00"},
]  # fmt: skip


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def test_followthemoney_export_loads_targets_with_their_facts(tmp_path: Path) -> None:
    listing = EmbeddedSanctionsList(write_lines(tmp_path / "entities.ftm.json", FTM_LINES))

    assert [e.entry_id for e in listing.entries] == ["NK-1", "NK-2", "NK-4"]
    assert listing.entries[2].names == ("Ivan Petrov",)
    result = listing.screen_blocking(
        ["Γεώργιος Παπαδόπουλος"], kind="person", evidence=QueryEvidence(birth_date="1961")
    )
    [hit] = result.hits
    assert hit.entry_id == "NK-1" and hit.topics == ["sanction"]
    assert any("same year of birth 1961" in reason for reason in hit.reasons)
    assert result.list_source == "entities.ftm.json"
    assert result.list_date == "2026-11-28"
    assert result.list_version.endswith(";rows:3")
    company = listing.screen_blocking(["Kaspiy Meridian"], kind="organization")
    assert [h.entry_id for h in company.hits] == ["NK-2"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "NK-1", "schema": "Person", "properties": {"name": ["A B"]}}\n{broken',
         r"entities\.ftm\.json, line 2: not JSON"),
        ('{"id": "NK-1", "schema": "Person", "properties": {}}\n',
         r"entities\.ftm\.json, line 1: entity NK-1 has no name"),
        ('{"schema": "Person", "properties": {"name": ["A B"]}}\n',
         r"entities\.ftm\.json, line 1: an entity needs an id"),
        ('{"id": "x", "schema": "Address", "properties": {}}\n',
         r"entities\.ftm\.json: no entries"),
        ("[1, 2]\n", r"missing column 'id'"),
    ],
)  # fmt: skip
def test_malformed_followthemoney_export_is_refused_naming_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "entities.ftm.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        EmbeddedSanctionsList(path)


class ExportServer:
    """Serves one list export on 127.0.0.1; the test changes it or makes it fail."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status = 200
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(server.status)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/exports/entities.ftm.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def export(lines: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(line) for line in lines) + "\n").encode("utf-8")


@pytest.fixture
def server() -> Iterator[ExportServer]:
    served = ExportServer(export(FTM_LINES))
    yield served
    served.close()


async def test_export_at_a_url_is_fetched_on_first_use_and_refreshed(
    server: ExportServer,
) -> None:
    listing = RefreshingSanctionsList(server.url + "?token=s3cret")

    first = await listing.screen(["Ivan Petrov"], kind="person")
    assert [h.entry_id for h in first.hits] == ["NK-4"]
    assert first.list_source == server.url  # no token in the audit trail
    assert first.list_date == "2026-11-28"

    server.body = export([*FTM_LINES, ftm("NK-5", "Person", name=["Yevgenia Sarkisova"])])
    assert await listing.refresh() is True
    second = await listing.screen(["Евгения Саркисова", "Ivan Petrov"], kind="person")
    assert {h.entry_id for h in second.hits} == {"NK-4", "NK-5"}
    assert second.list_version != first.list_version
    assert await listing.refresh() is False  # same content: the index is kept


async def test_stale_list_is_refreshed_in_the_background_while_screening_goes_on(
    server: ExportServer,
) -> None:
    listing = RefreshingSanctionsList(server.url, refresh_seconds=0.05)
    before = await listing.screen(["Ivan Petrov"], kind="person")
    server.body = export(FTM_LINES[:2])  # Ivan Petrov delisted

    await asyncio.sleep(0.1)
    during = await listing.screen(["Ivan Petrov"], kind="person")  # starts the refresh
    for _ in range(100):
        if listing.list_version != before.list_version:
            break
        await asyncio.sleep(0.05)

    assert during.list_version == before.list_version and during.hits
    after = await listing.screen(["Ivan Petrov"], kind="person")
    assert after.list_version != before.list_version and after.is_clear


async def test_failed_refresh_keeps_the_list_loaded_before(server: ExportServer) -> None:
    listing = RefreshingSanctionsList(server.url)
    before = await listing.screen(["Ivan Petrov"], kind="person")
    server.status = 503

    with pytest.raises(ScreeningUnavailable, match="could not be fetched"):
        await listing.refresh()
    server.status, server.body = 200, b"\xff\xfe not a list"
    with pytest.raises(ValueError, match="not UTF-8"):
        await listing.refresh()

    after = await listing.screen(["Ivan Petrov"], kind="person")
    assert after.list_version == before.list_version and after.hits


async def test_list_that_cannot_be_loaded_fails_screening_instead_of_clearing(
    server: ExportServer, tmp_path: Path
) -> None:
    server.status = 500
    with pytest.raises(ScreeningUnavailable) as raised:
        await RefreshingSanctionsList(server.url + "?token=s3cret").screen(["Ivan Petrov"])
    assert "s3cret" not in str(raised.value)
    garbage = tmp_path / "list.csv"
    garbage.write_bytes(b"id,schema\n\x00\xff")
    with pytest.raises(ScreeningUnavailable, match=r"list\.csv"):
        await RefreshingSanctionsList(str(garbage)).screen(["Ivan Petrov"])
    with pytest.raises(ScreeningUnavailable, match="cannot be read"):
        await RefreshingSanctionsList(str(tmp_path / "missing.csv")).screen(["Ivan Petrov"])


def test_configuration_chooses_api_then_export_url_then_file(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "entities.ftm.json", FTM_LINES)
    url = "http://127.0.0.1:9/entities.ftm.json"

    assert isinstance(
        sanctions_list_from_config(str(path), None, None, list_url=url), RefreshingSanctionsList
    )
    refreshed = sanctions_list_from_config(str(path), None, None, refresh_minutes=60)
    assert isinstance(refreshed, RefreshingSanctionsList)
    assert isinstance(sanctions_list_from_config(str(path), "", None), EmbeddedSanctionsList)


def test_refresh_interval_comes_from_the_environment_and_must_be_positive() -> None:
    settings = load_settings(environ={"SLUICE_SANCTIONS_REFRESH_MINUTES": "30"})
    assert settings.connectors.sanctions_refresh_minutes == 30.0
    with pytest.raises(ConfigError, match="sanctions_refresh_minutes"):
        load_settings(environ={"SLUICE_SANCTIONS_REFRESH_MINUTES": "0"})
