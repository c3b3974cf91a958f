"""``starter.py audit ID --verify``: re-check every signed decision of a run, offline.

Each decision recorded in the audit trail keeps its token; this re-verifies it the way the
workflow did, against the reviewer registry version in force when it was taken. That
version is looked up in this machine's own copies first (``reviewer-registry-versions``
beside the registry file), so a history changed on the server cannot bring its own keys; a
version only the history holds is used when its content matches its hash, and said so.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sluice.framework.audit import AuditEvent, AuditTrail
from sluice.framework.signatures import Signature, SignatureRefused, verify_decision
from sluice.reviewers import ReviewerRegistry, registry_version


@dataclass(frozen=True)
class DecisionCheck:
    """The verdict on one recorded decision."""

    event: AuditEvent
    holds: bool
    note: str


def check_trail(trail: AuditTrail, registry_file: Path) -> list[DecisionCheck]:
    """One check per decision a reviewer took (votes and final decisions), in order."""
    checks = []
    policy: dict[str, Any] = {}
    request_id = ""
    for event in trail.events:
        if event.kind == "policy" and "policy" in event.detail:
            policy = event.detail["policy"]
        elif event.kind == "decision_requested":
            request_id = str(event.detail.get("request_id", ""))
        elif event.kind in ("vote", "decision") and "signed" in event.detail:
            checks.append(_check(trail, event, policy, request_id, registry_file))
    return checks


def _check(
    trail: AuditTrail,
    event: AuditEvent,
    policy: dict[str, Any],
    request_id: str,
    registry_file: Path,
) -> DecisionCheck:
    if not event.detail.get("signed"):
        return DecisionCheck(event, False, "not signed (taken by name)")
    try:
        signature = Signature.model_validate(event.detail["signature"])
    except (KeyError, ValidationError):
        return DecisionCheck(event, False, "the recorded signature is unreadable")
    registry, where = _registry(signature.registry_version, policy, registry_file)
    if registry is None:
        return DecisionCheck(event, False, where)
    verdict = "reject" if event.summary.startswith("rejected") else "approve"
    amount = event.detail.get("amount")
    try:
        claims, _ = verify_decision(
            signature.token,
            registry,
            workflow_id=trail.workflow_id,
            request_id=request_id,
            now=event.at,
            verdict=verdict,
            comment=event.detail.get("comment"),
            reason=event.detail.get("reason"),
            amount=Decimal(amount) if amount is not None else None,
            final_text_sha256=event.detail.get("final_text_sha256"),
        )
    except SignatureRefused as err:
        return DecisionCheck(event, False, f"does not hold: {err}")
    issuer = "own key" if claims.iss == claims.sub else f"service {claims.iss} ({claims.amr})"
    return DecisionCheck(
        event,
        True,
        f"{verdict} by {claims.sub}, key {signature.key_id[:12]}…, {issuer}, token "
        f"{claims.jti}: holds against {signature.registry_version} ({where})",
    )


def _registry(
    version: str, policy: dict[str, Any], registry_file: Path
) -> tuple[ReviewerRegistry | None, str]:
    kept = registry_version(registry_file, version)
    if kept is not None:
        return kept, "this machine's copy"
    try:
        recorded = ReviewerRegistry.model_validate(policy.get("registry") or {})
    except ValidationError:
        recorded = None
    if recorded is not None and recorded.version == version:
        return recorded, "copy from the run's history: no local copy of this version"
    return None, f"registry version {version} is neither on this machine nor in the history"
