"""Signing decisions and start requests on the signer's side.

Two kinds of signer make the same token (``sluice/framework/signatures.py`` says what it holds):
a reviewer with their own key (``starter.py approve`` and ``starter.py sign``), and an
attesting service, such as an approval inbox, that authenticated the person itself and signs
for them with its own key and the login method it used (``amr``). The registry says which
services each reviewer trusts.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.jwk import OKPKey

from sluice.config import Settings
from sluice.framework.approval import ApproveSignal, DecisionInput, RejectSignal
from sluice.framework.names import canonical_or_none
from sluice.framework.signatures import (
    ALGORITHM,
    DECISION_TYPE,
    START_TYPE,
    DecisionClaims,
    StartClaims,
    amount_claim,
    text_digest,
)
from sluice.reviewers import (
    KEY_ENV,
    REVIEWER_ID,
    RegistryError,
    load_registry,
    own_key_file,
    public_half,
    read_private_key,
    sample_key_file,
)


@dataclass(frozen=True)
class Signer:
    """A private key and the identity it signs as."""

    key: OKPKey
    kid: str
    issuer: str
    login_method: str | None = None


def canonical_reviewer(name: str) -> str:
    """A reviewer id as typed, in the registry's form; refused if it cannot be one."""
    canonical = canonical_or_none(name) or ""
    if not REVIEWER_ID.match(canonical):
        raise RegistryError(f"'{name}' is not a reviewer id (lower-case letters, digits, . _ -)")
    return canonical


def own_signer(settings: Settings, reviewer: str) -> Signer:
    """``reviewer``'s own key on this machine, checked against the registry: from
    ``SLUICE_REVIEWER_KEY``, the reviewer's config folder, or the sample keys of the
    development setup. Fails with what to do when none is there."""
    registry = load_registry(settings.reviewer_registry_file)
    record = registry.reviewers.get(reviewer)
    if record is None:
        raise RegistryError(
            f"'{reviewer}' is not in the reviewer registry ({settings.reviewer_registry_file}): "
            f"python -m sluice.reviewers add {reviewer}"
        )
    registered = {key.kid for key in record.keys}
    candidates = [own_key_file(reviewer), sample_key_file(settings.data_dir, reviewer)]
    looked = []
    for path in dict.fromkeys(candidates):
        looked.append(str(path))
        if not path.exists():
            continue
        key = read_private_key(path)
        assert isinstance(key, OKPKey)
        kid = public_half(key).kid
        if kid in registered:
            return Signer(key=key, kid=kid, issuer=reviewer)
        looked[-1] += f" (key {kid} is not registered for {reviewer}: revoked?)"
    raise RegistryError(
        f"no key of {reviewer}'s on this machine (looked in {'; '.join(looked)}): sign on "
        f"{reviewer}'s own machine, set {KEY_ENV} to their key file, or create one with "
        f"python -m sluice.reviewers add {reviewer}"
    )


def service_signer(key_file: Path, service: str, login_method: str) -> Signer:
    """An attesting service's key, signing for people it authenticated by ``login_method``."""
    key = read_private_key(key_file)
    assert isinstance(key, OKPKey)
    return Signer(key=key, kid=public_half(key).kid, issuer=service, login_method=login_method)


def decision_token(
    signer: Signer,
    *,
    reviewer: str,
    workflow_id: str,
    request_id: str,
    verdict: str,
    comment: str | None = None,
    reason: str | None = None,
    amount: Decimal | None = None,
    final_text: str | None = None,
    lifetime: timedelta = timedelta(minutes=15),
    now: datetime | None = None,
) -> str:
    """A signed decision on one pending request of one run."""
    claims = DecisionClaims(
        **_envelope(signer, reviewer, workflow_id, lifetime, now or datetime.now(UTC)),
        req=request_id,
        verdict=verdict,
        comment=comment,
        reason=reason,
        amount=amount_claim(amount),
        text_sha256=text_digest(final_text),
    )
    return _sign(signer, DECISION_TYPE, claims.model_dump(exclude_none=True))


def start_token(signer: Signer, *, requester: str, workflow_id: str, lifetime: timedelta) -> str:
    """A signed start request: ``requester`` starts ``workflow_id``."""
    claims = StartClaims(**_envelope(signer, requester, workflow_id, lifetime, datetime.now(UTC)))
    return _sign(signer, START_TYPE, claims.model_dump(exclude_none=True))


def signed_decision(
    settings: Settings,
    *,
    reviewer: str,
    workflow_id: str,
    request_id: str,
    verdict: str,
    comment: str | None = None,
    reason: str | None = None,
    final_text: str | None = None,
    amount: Decimal | None = None,
    now: datetime | None = None,
) -> DecisionInput:
    """A decision signed with the reviewer's own key on this machine, ready to send."""
    reviewer_id = canonical_reviewer(reviewer)
    token = decision_token(
        own_signer(settings, reviewer_id),
        reviewer=reviewer_id,
        workflow_id=workflow_id,
        request_id=request_id,
        verdict=verdict,
        comment=comment,
        reason=reason,
        amount=amount,
        final_text=final_text,
        lifetime=timedelta(minutes=settings.signatures.token_minutes),
        now=now,
    )
    return DecisionInput(
        verdict=verdict,
        reviewer=reviewer_id,
        comment=comment,
        reason=reason,
        final_text=final_text,
        amount=amount,
        token=token,
    )


def as_signal(decision: DecisionInput) -> ApproveSignal | RejectSignal:
    """The same signed decision as the payload of an ``approve`` or ``reject`` signal."""
    if decision.verdict == "approve":
        return ApproveSignal(
            reviewer=decision.reviewer,
            comment=decision.comment,
            final_text=decision.final_text,
            amount=decision.amount,
            token=decision.token,
        )
    return RejectSignal(
        reviewer=decision.reviewer, reason=decision.reason or "", token=decision.token
    )


def requester_signer(settings: Settings, requester: str) -> Signer | None:
    """The requester's own key when this machine has one; None means the run records the
    requester as unverified (an upstream system, a person without a key)."""
    try:
        return own_signer(settings, canonical_reviewer(requester))
    except RegistryError:
        return None


def _envelope(
    signer: Signer, subject: str, workflow_id: str, lifetime: timedelta, issued: datetime
) -> dict[str, Any]:
    """The claims every token carries: who signs, for whom, which run, when it expires, and
    the once-only id that stops it being replayed."""
    return {
        "iss": signer.issuer,
        "sub": subject,
        "wf": workflow_id,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
        "amr": signer.login_method,
    }


def _sign(signer: Signer, token_type: str, claims: dict[str, Any]) -> str:
    header = {"alg": ALGORITHM, "typ": token_type, "kid": signer.kid}
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return jws.serialize_compact(header, payload, signer.key, algorithms=[ALGORITHM])
