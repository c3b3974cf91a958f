"""Signed decisions and start requests, verified inside the workflow.

A decision counts only when it carries a JWS (RFC 7515, compact form, Ed25519 per RFC 9864)
signed by a key the reviewer registry trusts for that reviewer: the reviewer's own key, or an
attesting service the registry trusts for them. The token names the run and the pending
request it answers, so it cannot be replayed on another run or on a later request of the same
run, and it carries every field that changes the outcome (verdict, comment or reason, amount,
SHA-256 of an edited text), so none can be changed after signing.

Verification is workflow logic: it reads only its arguments (the registry from the policy in
the run's history, the workflow's own clock), so it replays deterministically. Changing it
changes how recorded decisions replay: guard such a change with ``BusinessProcess.patched``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import OKPKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.framework.names import canonical_or_none
from sluice.reviewers import PublicKey, ReviewerRegistry

ALGORITHM = "Ed25519"
# The memo entry that carries the requester's signed start request.
REQUESTER_MEMO = "sluice-requester"
DECISION_TYPE = "sluice-decision+jws"
START_TYPE = "sluice-start+jws"
MAX_TOKEN_CHARS = 16_384
# Timestamps past the year 9999 are not dates a token can mean (nor can Python show them).
MAX_TIMESTAMP = 253_402_300_799
# A token is an answer to one request, not a standing permission: a leaked one is worth little.
MAX_LIFETIME = timedelta(days=7)
# Reviewers' and workers' clocks differ a little; a token from further in the future is odd.
CLOCK_SKEW = timedelta(minutes=5)

C = TypeVar("C", bound=BaseModel)

HOW_TO_SIGN = (
    "decisions must be signed: use `starter.py approve|reject ID --reviewer YOU` with your "
    "key on this machine, or `starter.py sign approve|reject ID --reviewer YOU` and send the "
    "printed JSON (`temporal workflow signal --name approve --input-file FILE`)"
)


def _prime_signature_errors() -> None:
    """cryptography's Rust core imports ``InvalidSignature`` the first time it raises it. Done
    from inside the workflow sandbox, that import meets the sandbox's importer and the whole
    worker process aborts. Checking one bad signature when this module is first imported, on
    the host (a worker imports its workflows before running them), makes that first time
    happen here, and the sandbox later finds the exception type already loaded."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    try:
        key.verify(bytes(64), b"")
    except InvalidSignature:
        pass


_prime_signature_errors()


class SignatureRefused(Exception):
    """A token that does not prove what it claims; the message says why, for the audit."""


class DecisionClaims(BaseModel):
    """What a reviewer signs: who, which run and request, and everything that was decided."""

    model_config = ConfigDict(extra="forbid")

    iss: str = Field(min_length=1, max_length=120, description="the reviewer's id or a service")
    sub: str = Field(min_length=1, max_length=120, description="the reviewer's canonical id")
    wf: str = Field(min_length=1, max_length=1000, description="workflow id")
    req: str = Field(min_length=1, max_length=200, description="id of the pending request")
    verdict: Literal["approve", "reject"]
    comment: str | None = None
    reason: str | None = None
    amount: str | None = None
    text_sha256: str | None = None
    iat: int = Field(ge=0, le=MAX_TIMESTAMP)
    exp: int = Field(ge=0, le=MAX_TIMESTAMP)
    jti: str = Field(min_length=8, max_length=64)
    amr: str | None = Field(default=None, max_length=60, description="login method (services)")


class StartClaims(BaseModel):
    """What a requester signs when starting a run: who, and which workflow id (a run's id is
    new at each start, and the token expires within minutes)."""

    model_config = ConfigDict(extra="forbid")

    iss: str = Field(min_length=1, max_length=120)
    sub: str = Field(min_length=1, max_length=120)
    wf: str = Field(min_length=1, max_length=1000)
    iat: int = Field(ge=0, le=MAX_TIMESTAMP)
    exp: int = Field(ge=0, le=MAX_TIMESTAMP)
    jti: str = Field(min_length=8, max_length=64)
    amr: str | None = Field(default=None, max_length=60)


class Signature(BaseModel):
    """Who signed, as the audit trail records it with each decision."""

    reviewer: str
    key_id: str
    issuer: str
    login_method: str | None = None
    token_id: str
    token_sha256: str
    registry_version: str
    token: str = Field(description="kept so `starter.py audit --verify` can re-check it")


def same_person(one: str, other: str) -> bool:
    """Whether two names are one reviewer in canonical form (a name that cannot be made
    canonical is nobody)."""
    canonical = canonical_or_none(one)
    return canonical is not None and canonical == canonical_or_none(other)


def amount_claim(amount: Decimal | None) -> str | None:
    """An amount as signed: always two decimals, so 10 and 10.00 sign alike."""
    return None if amount is None else f"{amount:.2f}"


def text_digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_decision(
    token: str,
    registry: ReviewerRegistry,
    *,
    workflow_id: str,
    request_id: str,
    now: datetime,
    verdict: str,
    comment: str | None,
    reason: str | None,
    amount: Decimal | None,
    final_text_sha256: str | None,
) -> tuple[DecisionClaims, Signature]:
    """The claims of a decision token that holds for this run, request and content, or
    ``SignatureRefused`` naming the first thing that does not hold."""
    payload, signature = _verified(token, registry, DECISION_TYPE)
    claims = _claims(DecisionClaims, payload)
    _check_time(claims.iat, claims.exp, now)
    if claims.wf != workflow_id:
        raise SignatureRefused(f"the token was signed for run '{claims.wf}', not this one")
    if claims.req != request_id:
        raise SignatureRefused(
            f"the token answers request {claims.req}, not the pending request {request_id}"
        )
    signed = {
        "verdict": (claims.verdict, verdict),
        "comment": (claims.comment, comment),
        "reason": (claims.reason, reason),
        "amount": (claims.amount, amount_claim(amount)),
        "final text": (claims.text_sha256, final_text_sha256),
    }
    changed = [name for name, (was, sent) in signed.items() if was != sent]
    if changed:
        raise SignatureRefused(
            f"{', '.join(changed)} differ(s) from what {claims.sub} signed: changed after signing"
        )
    return claims, signature.model_copy(update={"login_method": claims.amr})


def verify_start(
    token: str,
    registry: ReviewerRegistry,
    *,
    workflow_id: str,
    now: datetime,
) -> tuple[StartClaims, Signature]:
    """The claims of a start token that holds for this run, or ``SignatureRefused``. It is
    checked when the run first loads its policy, a moment after the start."""
    payload, signature = _verified(token, registry, START_TYPE)
    claims = _claims(StartClaims, payload)
    _check_time(claims.iat, claims.exp, now)
    if claims.wf != workflow_id:
        raise SignatureRefused(f"the start request was signed for '{claims.wf}', not this run")
    return claims, signature.model_copy(update={"login_method": claims.amr})


def _verified(
    token: str, registry: ReviewerRegistry, token_type: str
) -> tuple[dict[str, Any], Signature]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise SignatureRefused("not a signed token (a JWS in compact form)")
    try:
        unverified = jws.extract_compact(token.encode("ascii"))
        header = unverified.headers()
        claimed = json.loads(unverified.payload)
    except Exception as err:  # hostile input: any failure to parse is a refusal, never a crash
        raise SignatureRefused(f"not a signed token: {type(err).__name__}") from None
    if header.get("alg") != ALGORITHM or header.get("typ") != token_type:
        raise SignatureRefused(
            f"a {token_type} token signed with {ALGORITHM} is needed, not "
            f"{header.get('typ')!s:.40} with {header.get('alg')!s:.20}"
        )
    if not isinstance(claimed, dict):
        raise SignatureRefused("the token's payload is not a set of claims")
    kid, issuer, subject = header.get("kid"), claimed.get("iss"), claimed.get("sub")
    if not (isinstance(kid, str) and isinstance(issuer, str) and isinstance(subject, str)):
        raise SignatureRefused("the token names no key id, issuer or subject")
    key = trusted_key(registry, issuer, subject, kid)
    try:
        verified = jws.deserialize_compact(
            token, OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": key.x}), [ALGORITHM]
        )
        payload = json.loads(verified.payload)
    except Exception as err:  # a bad signature, or a key or token the library cannot use
        raise SignatureRefused(
            f"the signature does not match key {kid} of {issuer}: the token was changed "
            f"after signing or signed with another key ({type(err).__name__})"
        ) from None
    return payload, Signature(
        reviewer=subject,
        key_id=kid,
        issuer=issuer,
        token_id=str(payload.get("jti", "")),
        token_sha256=hashlib.sha256(token.encode("ascii")).hexdigest(),
        registry_version=registry.version,
        token=token,
    )


def trusted_key(registry: ReviewerRegistry, issuer: str, subject: str, kid: str) -> PublicKey:
    """The registered key ``kid`` of ``issuer``, if the registry trusts that issuer to sign
    for ``subject``; else ``SignatureRefused`` saying which link is missing."""
    reviewer = registry.reviewers.get(subject)
    if reviewer is None:
        raise SignatureRefused(f"'{subject}' is not in the reviewer registry {registry.version}")
    if issuer == subject:
        keys, who = reviewer.keys, f"{subject}'s own keys"
        if not reviewer.trusts_own_keys:
            raise SignatureRefused(
                f"{subject} does not sign with an own key, only through a service"
            )
    else:
        service = registry.services.get(issuer)
        if service is None or issuer not in reviewer.issuers:
            raise SignatureRefused(f"issuer '{issuer}' is not trusted to sign for {subject}")
        keys, who = service.keys, f"service {issuer}"
    key = next((k for k in keys if k.kid == kid), None)
    if key is None:
        raise SignatureRefused(f"key {kid} is not among {who} (revoked or never registered)")
    return key


def _claims(model: type[C], payload: dict[str, Any]) -> C:
    try:
        return model.model_validate(payload)
    except ValidationError as err:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in err.errors()[:5])
        raise SignatureRefused(f"the token's claims are not usable ({fields})") from None


def _check_time(issued: int, expires: int, now: datetime) -> None:
    moment = now.timestamp()
    if expires <= moment:
        raise SignatureRefused(
            f"the token expired at {datetime.fromtimestamp(expires, now.tzinfo).isoformat()}"
        )
    if issued > moment + CLOCK_SKEW.total_seconds():
        raise SignatureRefused("the token was issued in the future")
    if expires - issued > MAX_LIFETIME.total_seconds():
        raise SignatureRefused(f"the token is valid for longer than {MAX_LIFETIME.days} days")
