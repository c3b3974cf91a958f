"""Screening through an OpenSanctions / yente compatible ``POST /match/{dataset}`` API, for
teams that run yente on premises or hold an OpenSanctions API key.

The request goes through the connectors' shared HTTP helper (:mod:`activities.connectors.http`);
its failures become :class:`ScreeningUnavailable` (retry later) or
:class:`ScreeningRequestRejected` (fix the configuration), with the API key and any
credentials in the URL removed from every message. A missing or failed answer for a name
never reads as "no hits".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from temporalio.exceptions import ApplicationError

from activities.connectors.http import SYSTEM_REJECTED, post_idempotent, redacted_url
from activities.connectors.sanctions.index import order_hits, top_hits
from activities.connectors.sanctions.lists import check_arguments, clean_names
from activities.connectors.sanctions.matching import kind_admits, score_names
from activities.connectors.sanctions.models import (
    DEFAULT_MAX_HITS_PER_NAME,
    DEFAULT_THRESHOLD,
    QueryEvidence,
    ScreeningHit,
    ScreeningKind,
    ScreeningRequestRejected,
    ScreeningResult,
    ScreeningUnavailable,
)

# FollowTheMoney schemas sent as query examples. A yente query only returns entries of the
# query's schema and its descendants, and Vessel is not a LegalEntity, so organisations and
# "any" send a second, Vessel-typed query for the same name.
_HTTP_QUERY_SCHEMAS: dict[str, tuple[str, ...]] = {
    "person": ("Person",),
    "organization": ("Organization", "Vessel"),
    "any": ("LegalEntity", "Vessel"),
}
# yente refuses batches above its MAX_BATCH setting (100 by default); stay well below.
_HTTP_MAX_QUERIES_PER_REQUEST = 50
# yente validates ``limit`` against its MAX_MATCHES setting (10).
_HTTP_MAX_LIMIT = 10


class HttpSanctionsList:
    """Screens names with the ``POST /match/{dataset}`` API of yente / OpenSanctions."""

    def __init__(
        self,
        base_url: str,
        *,
        dataset: str = "default",
        api_key: str | None = None,
        timeout_seconds: float = 10.0,
        algorithm: str | None = None,
        max_hits_per_name: int = DEFAULT_MAX_HITS_PER_NAME,
    ) -> None:
        """``algorithm`` pins a yente matching algorithm (e.g. "logic-v2"); by default the
        server's default is used. ``api_key`` is sent as ``Authorization: ApiKey <key>``."""
        if not base_url.strip():
            raise ValueError("base_url is required")
        if max_hits_per_name < 1:
            raise ValueError("max_hits_per_name must be at least 1")
        self._base_url = base_url.strip().rstrip("/")
        self._api_key = api_key or None
        self._timeout = timeout_seconds
        self._algorithm = algorithm
        self._max_hits = max_hits_per_name
        self._match_path = f"match/{quote(dataset, safe='')}"
        self.list_source = redacted_url(f"{self._base_url}/{self._match_path}")
        self.list_version = f"dataset:{dataset}"
        self._algorithm_label = f"yente:{algorithm or 'server-default'}"

    async def screen(
        self,
        names: Sequence[str],
        *,
        kind: ScreeningKind = "any",
        threshold: float = DEFAULT_THRESHOLD,
        evidence: QueryEvidence | None = None,
    ) -> ScreeningResult:
        """Screen ``names`` (see :class:`SanctionsList`). A person query carries the
        evidence as ``birthDate`` and ``nationality``, which yente weighs itself.

        Raises ScreeningUnavailable for timeouts, connection failures, 5xx, 429 and garbled
        answers; ScreeningRequestRejected for other 4xx answers.
        """
        check_arguments(kind, threshold)
        cleaned = clean_names(names)
        queries: dict[str, tuple[int, dict[str, Any]]] = {}
        for i, name in enumerate(cleaned):
            for n, schema in enumerate(_HTTP_QUERY_SCHEMAS[kind]):
                key = f"q{i}" if n == 0 else f"q{i}_{schema.lower()}"
                properties: dict[str, list[str]] = {"name": [name]}
                if evidence is not None and schema == "Person":
                    if evidence.birth_date:
                        properties["birthDate"] = [evidence.birth_date]
                    if evidence.countries:
                        properties["nationality"] = list(evidence.countries)
                queries[key] = (i, {"schema": schema, "properties": properties})

        per_name: list[list[ScreeningHit]] = [[] for _ in cleaned]
        keys = list(queries)
        for start in range(0, len(keys), _HTTP_MAX_QUERIES_PER_REQUEST):
            batch = {k: queries[k][1] for k in keys[start : start + _HTTP_MAX_QUERIES_PER_REQUEST]}
            responses = await self._post(batch, threshold)
            for key in batch:
                i = queries[key][0]
                per_name[i].extend(
                    self._parse_response(key, responses.get(key), cleaned[i], kind, threshold)
                )
        return ScreeningResult(
            list_source=self.list_source,
            list_version=self.list_version,
            matcher_version=self._algorithm_label,
            threshold=threshold,
            screened_names=cleaned,
            hits=order_hits([top_hits(hits, self._max_hits) for hits in per_name]),
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    async def _post(self, queries: dict[str, Any], threshold: float) -> Mapping[str, Any]:
        params: dict[str, str | int | float] = {
            "threshold": threshold,
            "limit": min(self._max_hits, _HTTP_MAX_LIMIT),
        }
        if self._algorithm:
            params["algorithm"] = self._algorithm
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"ApiKey {self._api_key}"
        where = self.list_source
        body = {"queries": queries}
        try:
            # A match query changes nothing, so any key will do; the helper sends one.
            answer = await post_idempotent(
                self._base_url,
                f"{self._match_path}?{urlencode(params)}",
                body,
                key="match",
                timeout_seconds=self._timeout,
                headers=headers,
            )
        except ApplicationError as exc:
            detail = self._redact(str(exc)).replace(self._base_url, redacted_url(self._base_url))
            if exc.type == SYSTEM_REJECTED:
                raise ScreeningRequestRejected(
                    f"sanctions screening at {where} rejected the request: {detail}"
                ) from exc
            raise ScreeningUnavailable(
                f"sanctions screening at {where} failed, retry later: {detail}"
            ) from exc
        except ValueError as exc:
            raise ScreeningUnavailable(
                f"sanctions screening at {where} answered with invalid JSON"
            ) from exc
        responses = answer.get("responses") if isinstance(answer, dict) else None
        if not isinstance(responses, dict):
            raise ScreeningUnavailable(
                f"sanctions screening at {where} answered without a 'responses' object"
            )
        return responses

    def _parse_response(
        self,
        key: str,
        answer: Any,
        queried_name: str,
        kind: ScreeningKind,
        threshold: float,
    ) -> list[ScreeningHit]:
        where = self.list_source
        # A missing or failed answer must not read as "no hits": that would clear the name.
        if not isinstance(answer, dict):
            raise ScreeningUnavailable(f"sanctions screening at {where} gave no answer for {key}")
        status = answer.get("status", 200)
        if status != 200:
            error = ScreeningRequestRejected if 400 <= int(status) < 500 else ScreeningUnavailable
            raise error(f"sanctions screening at {where} answered {status} for query {key}")
        results = answer.get("results")
        if not isinstance(results, list):
            raise ScreeningUnavailable(f"sanctions screening at {where}: no results for {key}")
        hits = []
        for result in results:
            try:
                hit = self._hit_from_result(result, queried_name)
            except (KeyError, TypeError, ValueError) as exc:
                raise ScreeningUnavailable(
                    f"sanctions screening at {where}: malformed result for {key} ({exc})"
                ) from exc
            if hit.score >= threshold and kind_admits(kind, hit.entity_schema):
                hits.append(hit)
        return hits

    def _hit_from_result(self, result: Mapping[str, Any], queried_name: str) -> ScreeningHit:
        properties = result.get("properties") or {}
        names = [
            value
            for prop in ("name", "alias", "weakAlias", "previousName")
            for value in properties.get(prop, [])
            if isinstance(value, str) and value.strip()
        ]
        caption = str(result.get("caption") or (names[0] if names else result["id"]))
        return ScreeningHit(
            queried_name=queried_name,
            matched_name=_closest_name(queried_name, names) or caption,
            entry_id=str(result["id"]),
            entry_caption=caption,
            entity_schema=str(result["schema"]),
            topics=[str(t) for t in properties.get("topics", [])],
            datasets=[str(d) for d in result.get("datasets", [])],
            score=min(1.0, max(0.0, float(result["score"]))),
            algorithm=self._algorithm_label,
        )


def _closest_name(queried_name: str, names: Sequence[str]) -> str | None:
    """The entry name most like the query: yente scores the entity, not a single name, but a
    reviewer wants to see which spelling was close."""
    if not names:
        return None
    return max(names, key=lambda n: score_names(queried_name, n, kind="any"))
