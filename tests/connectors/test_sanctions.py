"""Sanctions and PEP screening connector: what counts as the same name, what does not, and how
the HTTP implementation talks to a yente-compatible match API (against a stub server)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activities.connectors.sanctions import (
    DEFAULT_LIST_PATH,
    FUZZY_ALGORITHM,
    CsvSanctionsList,
    HttpSanctionsList,
    ScreeningHit,
    ScreeningRequestRejected,
    ScreeningResult,
    ScreeningUnavailable,
    normalise_name,
    phonetic_key,
    sanctions_list_from_config,
    score_names,
)

SAMPLE = CsvSanctionsList()


def hit_for(result: ScreeningResult, queried_name: str, entry_id: str) -> ScreeningHit:
    """The hit of ``entry_id`` for ``queried_name``; fails the test when there is none."""
    for hit in result.hits:
        if hit.queried_name == queried_name and hit.entry_id == entry_id:
            return hit
    raise AssertionError(f"{queried_name!r} did not hit {entry_id}: {result.hits}")


# --------------------------------------------------------------------------------------------
# Fuzzy matching against the shipped sample list
# --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_jon_smyth_matches_john_smith_with_score() -> None:
    result = await SAMPLE.screen(["Jon Smyth"], kind="person")

    hit = hit_for(result, "Jon Smyth", "sample-p-0001")
    assert hit.matched_name == "John Smith"
    assert hit.entry_caption == "John Smith"
    assert hit.entity_schema == "Person"
    assert hit.score == pytest.approx(0.95)
    assert hit.algorithm == FUZZY_ALGORITHM
    assert hit.topics == ["sanction"]
    assert hit.datasets == ["us_ofac_sdn"]
    assert not result.is_clear
    assert result.threshold == 0.85
    assert result.screened_names == ["Jon Smyth"]


@pytest.mark.asyncio
async def test_result_names_the_list_file_and_its_version() -> None:
    result = await SAMPLE.screen(["Nobody In Particular"])

    assert result.is_clear
    assert result.list_source == "sanctions_sample.csv"
    assert result.list_version.startswith("sha256:")
    assert result.list_version.endswith(";rows:61")


def test_reordered_name_matches() -> None:
    assert score_names("Smith John", "John Smith") == 1.0
    result = SAMPLE.screen_blocking(["Zvonarev Arkady Semyonovich"], kind="person")
    assert hit_for(result, "Zvonarev Arkady Semyonovich", "sample-p-0004").score == 1.0


def test_accents_and_case_are_ignored() -> None:
    assert score_names("José Álvarez", "Jose Alvarez") == 1.0
    result = SAMPLE.screen_blocking(["JOSE ALVAREZ RUVALCABA"], kind="person")
    hit = hit_for(result, "JOSE ALVAREZ RUVALCABA", "sample-p-0002")
    assert hit.score == 1.0
    assert hit.matched_name == "José Álvarez Ruvalcaba"


def test_cyrillic_name_matches_its_latin_transliteration() -> None:
    assert normalise_name("Иван Петров") == normalise_name("Ivan Petrov") == "ivan petrov"
    # The entry has no Cyrillic alias, so only transliteration can explain the hit.
    lomtev = next(e for e in SAMPLE.entries if e.entry_id == "sample-p-0003")
    assert all(name.isascii() for name in lomtev.names)

    result = SAMPLE.screen_blocking(["Геннадий Ломтев"], kind="person")

    hit = hit_for(result, "Геннадий Ломтев", "sample-p-0003")
    assert hit.score >= 0.9


def test_latin_query_matches_an_entry_listed_in_cyrillic() -> None:
    result = SAMPLE.screen_blocking(["Zvonaryov Arkadiy Semyonovich"], kind="person")
    assert hit_for(result, "Zvonaryov Arkadiy Semyonovich", "sample-p-0004").score >= 0.9


def test_arabic_transliteration_variants_match() -> None:
    queried = "Abdul Rahman Yusuf al Qazzani"
    result = SAMPLE.screen_blocking([queried], kind="person")
    assert hit_for(result, queried, "sample-p-0005").score >= 0.9
    assert score_names("Abdulrahman", "Abd al-Rahman") >= 0.85


def test_missing_middle_name_still_hits_below_a_full_match() -> None:
    result = SAMPLE.screen_blocking(["Jose Alvarez"], kind="person")
    hit = hit_for(result, "Jose Alvarez", "sample-p-0002")
    assert 0.85 <= hit.score < 1.0
    assert "without counterpart: 'ruvalcaba'" in hit.reasons


def test_organisation_legal_form_variant_matches() -> None:
    assert (
        score_names(
            "Oceanic Bulk Carriers Limited", "Oceanic Bulk Carriers Ltd", kind="organization"
        )
        == 1.0
    )
    names = ["Oceanic Bulk Carriers Limited", "M/V AZURE PETREL", "Nordstern Handels"]

    result = SAMPLE.screen_blocking(names, kind="organization")

    oceanic = hit_for(result, "Oceanic Bulk Carriers Limited", "sample-c-0001")
    assert oceanic.matched_name == "Oceanic Bulk Carriers Ltd"
    assert oceanic.entity_schema == "Company"
    assert oceanic.score == 1.0
    assert hit_for(result, "M/V AZURE PETREL", "sample-v-0001").entity_schema == "Vessel"
    assert hit_for(result, "Nordstern Handels", "sample-c-0002").score == 1.0


@pytest.mark.parametrize(
    ("queried", "listed", "kind"),
    [
        ("Maria Garcia", "Mario Garza", "person"),
        ("Maria Garcia", "Maria Garza", "person"),
        ("John Smithson", "John Smith", "person"),
        ("Mark Smith", "John Smith", "person"),
        ("Jane Smith", "John Smith", "person"),
        ("Li Wei", "Li Wen", "person"),
        ("Pacific Bulk Carriers Ltd", "Oceanic Bulk Carriers Ltd", "organization"),
        ("Global Trading Ltd", "Golden Lotus Trading Co., Ltd.", "organization"),
    ],
)
def test_clearly_different_names_do_not_hit(queried: str, listed: str, kind: Any) -> None:
    assert score_names(queried, listed, kind=kind) < 0.85


def test_unrelated_parties_are_clear() -> None:
    names = ["Maria Garcia", "Global Trading Ltd", "Ocean Carriers Ltd", "Hamburg Port Services"]
    assert SAMPLE.screen_blocking(names).is_clear


def test_single_word_query_does_not_hit_a_full_name() -> None:
    assert score_names("John", "John Smith") < 0.7
    assert score_names("Smith", "John Smith") < 0.7
    assert SAMPLE.screen_blocking(["John", "Smith", "Garza"]).is_clear


def test_single_word_name_hits_only_when_spelled_the_same() -> None:
    result = SAMPLE.screen_blocking(["KALIMAR", "Kalimara"], kind="organization")

    assert hit_for(result, "KALIMAR", "sample-v-0003").score == 1.0
    assert all(hit.queried_name == "KALIMAR" for hit in result.hits)


def test_kind_filter_compares_persons_with_persons_and_organisations_with_organisations() -> None:
    names = ["John Smith", "Nordstern Handels GmbH"]

    persons = SAMPLE.screen_blocking(names, kind="person")
    organisations = SAMPLE.screen_blocking(names, kind="organization")
    anything = SAMPLE.screen_blocking(names, kind="any")

    assert [h.entry_id for h in persons.hits] == ["sample-p-0001"]
    assert [h.entry_id for h in organisations.hits] == ["sample-c-0002"]
    assert {h.entry_id for h in anything.hits} == {"sample-p-0001", "sample-c-0002"}


def test_pep_entry_carries_the_pep_topic() -> None:
    result = SAMPLE.screen_blocking(["Helena Marsk Torvald"], kind="person")
    hit = hit_for(result, "Helena Marsk Torvald", "sample-p-0101")
    assert hit.topics == ["role.pep"]
    assert hit.datasets == ["peps_sample"]


def test_hits_are_sorted_best_first_and_capped_per_name(tmp_path: Path) -> None:
    header = "id,schema,name,aliases,sanctions,dataset\n"
    rows = [
        "a,Person,John Smith,,x,ds",
        "b,Person,Jon Smyth,,x,ds",
        "c,Person,Johan Smith,,x,ds",
        "d,Person,John Smyth,,x,ds",
    ]
    path = tmp_path / "list.csv"
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    small = CsvSanctionsList(path, max_hits_per_name=2)

    result = small.screen_blocking(["John Smith", "Jon Smyth"])

    for name in result.screened_names:
        scores = [h.score for h in result.hits if h.queried_name == name]
        assert len(scores) == 2
        assert scores[0] == 1.0
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_same_party_twice_is_screened_once() -> None:
    result = SAMPLE.screen_blocking(["John Smith", " John  Smith "], kind="person")
    assert result.screened_names == ["John Smith"]
    assert len(result.hits) == 1


def test_empty_name_is_refused_rather_than_reported_clear() -> None:
    with pytest.raises(ValueError, match="empty"):
        SAMPLE.screen_blocking(["Oceanic Bulk Carriers Ltd", " -- "])
    with pytest.raises(TypeError):
        SAMPLE.screen_blocking("John Smith")
    with pytest.raises(ValueError, match="threshold"):
        SAMPLE.screen_blocking(["John Smith"], threshold=1.5)


def test_result_round_trips_as_json() -> None:
    result = SAMPLE.screen_blocking(["Jon Smyth", "Oceanic Bulk Carriers Limited"])
    again = ScreeningResult.model_validate_json(result.model_dump_json())
    assert again == result
    assert not again.is_clear


# --------------------------------------------------------------------------------------------
# A bad list file
# --------------------------------------------------------------------------------------------


def test_csv_without_a_required_column_names_file_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken_list.csv"
    path.write_text("id,schema,name,sanctions,dataset\nx,Person,John Smith,,ds\n")

    with pytest.raises(ValueError, match=r"broken_list\.csv.*missing column 'aliases'"):
        CsvSanctionsList(path)


def test_csv_row_without_a_name_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text(
        "id,schema,name,aliases,sanctions,dataset\nx,Person,John Smith,,s,ds\ny,Person,,,s,ds\n"
    )

    with pytest.raises(ValueError, match=r"gaps\.csv, line 3"):
        CsvSanctionsList(path)


def test_empty_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(ValueError, match=r"empty\.csv.*missing column 'id'"):
        CsvSanctionsList(path)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_ACCENTED = {
    "a": "áàâä", "e": "éèêë", "i": "íìîï", "o": "óòôö", "u": "úùûü", "n": "ñ", "c": "ç",
}  # fmt: skip
_LATIN_ENTRIES = [
    (entry.entry_id, entry.caption) for entry in SAMPLE.entries if entry.caption.isascii()
]


@st.composite
def disguised_listed_name(draw: st.DrawFn) -> tuple[str, str]:
    """A listed name with random letter case, accents and word order."""
    entry_id, name = draw(st.sampled_from(_LATIN_ENTRIES))
    words = draw(st.permutations(name.split()))
    out = []
    for ch in " ".join(words):
        if ch.lower() in _ACCENTED and draw(st.booleans()):
            ch = draw(st.sampled_from(_ACCENTED[ch.lower()]))
        if draw(st.booleans()):
            ch = ch.upper()
        out.append(ch)
    return entry_id, "".join(out)


@settings(max_examples=300, deadline=None)
@given(disguised_listed_name())
def test_listed_name_with_case_accent_and_order_changes_always_hits(
    listed: tuple[str, str],
) -> None:
    entry_id, disguised = listed
    result = SAMPLE.screen_blocking([disguised])
    assert hit_for(result, disguised, entry_id).score == 1.0


# Any encodable text: letters of every script, digits, punctuation, symbols, control characters.
_NAMES = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_NAMES, _NAMES, st.sampled_from(["person", "organization"]))
def test_score_is_within_zero_and_one_and_symmetric(a: str, b: str, kind: Any) -> None:
    score = score_names(a, b, kind=kind)
    assert 0.0 <= score <= 1.0
    assert score == score_names(b, a, kind=kind)


@settings(max_examples=200, deadline=None)
@given(_NAMES)
def test_a_name_always_matches_itself(name: str) -> None:
    if normalise_name(name):
        assert score_names(name, name) == 1.0
    assert normalise_name(normalise_name(name)) == normalise_name(name)
    assert all(phonetic_key(word) for word in normalise_name(name).split())


@settings(max_examples=100, deadline=None)
@given(st.lists(_NAMES.filter(lambda n: bool(normalise_name(n))), min_size=1, max_size=3))
def test_every_hit_score_is_within_threshold_and_one(names: list[str]) -> None:
    result = SAMPLE.screen_blocking(names, threshold=0.6)
    assert all(0.6 <= hit.score <= 1.0 for hit in result.hits)


# --------------------------------------------------------------------------------------------
# HTTP implementation against a yente-shaped stub server
# --------------------------------------------------------------------------------------------

API_KEY = "secret-test-key-4711"


class YenteStub:
    """Speaks enough of ``POST /match/{dataset}`` to test the client: records every request
    and answers with canned results per queried name, or with a forced status."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.results_by_name: dict[str, list[dict[str, Any]]] = {}
        self.force_status: int | None = None
        self.force_body: dict[str, Any] | None = None
        self.delay_seconds = 0.0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                url = urlsplit(self.path)
                stub.requests.append(
                    {
                        "path": url.path,
                        "params": parse_qs(url.query),
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                if stub.delay_seconds:
                    time.sleep(stub.delay_seconds)
                if stub.force_status is not None:
                    self._reply(stub.force_status, stub.force_body or {"detail": "forced"})
                    return
                if stub.force_body is not None:
                    self._reply(200, stub.force_body)
                    return
                responses = {
                    key: {
                        "status": 200,
                        "results": stub.results_by_name.get(query["properties"]["name"][0], []),
                        "total": {"value": 0, "relation": "eq"},
                        "query": query,
                    }
                    for key, query in body["queries"].items()
                }
                self._reply(200, {"responses": responses, "matcher": {}, "limit": 5})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> YenteStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def yente() -> Iterator[YenteStub]:
    with YenteStub() as stub:
        yield stub


def yente_result(
    entry_id: str, caption: str, schema: str, score: float, **properties: list[str]
) -> dict[str, Any]:
    return {
        "id": entry_id,
        "caption": caption,
        "schema": schema,
        "properties": {"name": [caption], **properties},
        "datasets": ["us_ofac_sdn"],
        "referents": [],
        "target": True,
        "score": score,
        "features": {"name_literal_match": score},
        "match": score >= 0.7,
    }


@pytest.mark.asyncio
async def test_http_hits_are_parsed_and_query_has_yente_shape(yente: YenteStub) -> None:
    yente.results_by_name["Jon Smyth"] = [
        yente_result(
            "NK-smith", "John Smith", "Person", 0.93,
            alias=["Johnny Smith"], topics=["sanction", "crime"],
        ),
        yente_result("NK-other", "Jonas Smythe", "Person", 0.62),
        # A company in a person screening must not count, whatever its score.
        yente_result("NK-co", "Smyth Holdings", "Company", 0.9),
    ]  # fmt: skip
    client = HttpSanctionsList(yente.url, api_key=API_KEY)

    result = await client.screen(["Jon Smyth"], kind="person")

    [request] = yente.requests
    assert request["path"] == "/match/default"
    assert request["body"] == {
        "queries": {"q0": {"schema": "Person", "properties": {"name": ["Jon Smyth"]}}}
    }
    assert request["params"]["threshold"] == ["0.85"]
    assert request["headers"]["Authorization"] == f"ApiKey {API_KEY}"
    [hit] = result.hits
    assert hit.entry_id == "NK-smith"
    assert hit.entry_caption == "John Smith"
    assert hit.matched_name == "John Smith"
    assert hit.entity_schema == "Person"
    assert hit.topics == ["sanction", "crime"]
    assert hit.datasets == ["us_ofac_sdn"]
    assert hit.score == 0.93
    assert hit.algorithm == "yente:server-default"
    assert result.list_source == f"{yente.url}/match/default"
    assert result.list_version == "dataset:default"
    assert API_KEY not in result.model_dump_json()


@pytest.mark.asyncio
async def test_http_organisation_screening_asks_for_organisations_and_vessels(
    yente: YenteStub,
) -> None:
    yente.results_by_name["Azure Petrel"] = [
        yente_result("NK-ship", "Azure Petrel", "Vessel", 0.97)
    ]
    client = HttpSanctionsList(yente.url, dataset="sanctions", algorithm="logic-v2")

    result = await client.screen(["Oceanic Bulk", "Azure Petrel"], kind="organization")

    [request] = yente.requests
    assert request["path"] == "/match/sanctions"
    assert request["params"]["algorithm"] == ["logic-v2"]
    assert "Authorization" not in request["headers"]
    assert {key: q["schema"] for key, q in request["body"]["queries"].items()} == {
        "q0": "Organization",
        "q0_vessel": "Vessel",
        "q1": "Organization",
        "q1_vessel": "Vessel",
    }
    assert [(h.queried_name, h.entry_id, h.algorithm) for h in result.hits] == [
        ("Azure Petrel", "NK-ship", "yente:logic-v2")
    ]


@pytest.mark.asyncio
async def test_http_503_raises_screening_unavailable(yente: YenteStub) -> None:
    yente.force_status = 503
    client = HttpSanctionsList(yente.url, api_key=API_KEY)

    with pytest.raises(ScreeningUnavailable, match="503") as raised:
        await client.screen(["John Smith"])
    assert API_KEY not in str(raised.value)


@pytest.mark.asyncio
async def test_http_refused_connection_raises_screening_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = HttpSanctionsList(f"http://127.0.0.1:{closed_port}", api_key=API_KEY)

    with pytest.raises(ScreeningUnavailable, match="unreachable") as raised:
        await client.screen(["John Smith"])
    assert API_KEY not in str(raised.value)


@pytest.mark.asyncio
async def test_http_timeout_raises_screening_unavailable(yente: YenteStub) -> None:
    yente.delay_seconds = 1.0
    client = HttpSanctionsList(yente.url, timeout_seconds=0.2)

    with pytest.raises(ScreeningUnavailable, match="Timeout"):
        await client.screen(["John Smith"])


@pytest.mark.asyncio
async def test_http_401_raises_screening_request_rejected(yente: YenteStub) -> None:
    yente.force_status = 401
    # A server that echoes the key back must not get it into our error message.
    yente.force_body = {"detail": f"Invalid API key: {API_KEY}"}
    client = HttpSanctionsList(yente.url, api_key=API_KEY)

    with pytest.raises(ScreeningRequestRejected, match="401") as raised:
        await client.screen(["John Smith"])
    assert "Invalid API key" in str(raised.value)
    assert API_KEY not in str(raised.value)


@pytest.mark.asyncio
async def test_http_missing_answer_is_not_reported_clear(yente: YenteStub) -> None:
    yente.force_body = {"responses": {}, "matcher": {}, "limit": 5}
    client = HttpSanctionsList(yente.url)

    with pytest.raises(ScreeningUnavailable, match="no answer"):
        await client.screen(["John Smith"])


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


def test_factory_prefers_the_url_then_the_path_then_the_sample(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("id,schema,name,aliases,sanctions,dataset\nx,Person,A B,,s,ds\n")

    from_url = sanctions_list_from_config(str(path), "http://yente:8000", "k")
    from_path = sanctions_list_from_config(str(path), "", None)
    default = sanctions_list_from_config(None, None, None)

    assert isinstance(from_url, HttpSanctionsList)
    assert isinstance(from_path, CsvSanctionsList)
    assert from_path.list_source == "mine.csv"
    assert isinstance(default, CsvSanctionsList)
    assert default.list_source == DEFAULT_LIST_PATH.name


def test_url_credentials_never_reach_the_list_source() -> None:
    client = HttpSanctionsList("https://user:pa55@yente.example.com:8443/api/", api_key=API_KEY)
    assert client.list_source == "https://yente.example.com:8443/api/match/default"
