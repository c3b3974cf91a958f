"""Approval policy, read from the worker's configuration: allow-lists, deadlines, and the
reviewer registry whose keys decisions must be signed with.

Workflow code must not read configuration files (replay would see today's file, not the one
the run saw), so a run asks for its policy through this activity once, at start, and the
answer is recorded in its history and its audit trail.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.common import RetryPolicy

from sluice.activity_policy import ActivityPolicy, with_policy
from sluice.config import Settings
from sluice.reviewers import ReviewerRegistry, load_registry

ANY_DECISION = "*"

# Reads the worker's own settings: fast and local, so it runs as a local activity.
CONFIG_READ = ActivityPolicy(
    start_to_close=timedelta(seconds=10),
    retry=RetryPolicy(maximum_attempts=5),
    local=True,
)


class ApprovalPolicy(BaseModel):
    """Who may decide what in a domain, and how long a decision may wait."""

    domain: str
    reviewers: dict[str, list[str]] = Field(default_factory=dict)
    sla: timedelta
    final_timeout: timedelta
    escalation_contact: str
    version: str = ""
    # Defaults keep policies recorded before these fields existed readable on replay.
    auto_approve_low_risk: bool = False
    input_timeout: timedelta = timedelta(days=7)
    # A policy recorded before signed decisions has no registry and requires no signature.
    require_signed_decisions: bool = False
    registry: ReviewerRegistry = Field(default_factory=ReviewerRegistry)

    def allowed_reviewers(self, decision_kind: str) -> list[str]:
        """Reviewers allowed for this kind of decision (the ``*`` entry covers every kind)."""
        return self.reviewers.get(decision_kind) or self.reviewers.get(ANY_DECISION, [])


def policy_from_settings(settings: Settings, domain: str) -> ApprovalPolicy:
    """The domain's policy, stamped with a hash so the audit shows which one applied."""
    approvals = settings.approvals_for(domain)
    policy = ApprovalPolicy(
        domain=domain,
        reviewers=approvals.reviewers,
        sla=approvals.sla,
        final_timeout=max(approvals.final_timeout, approvals.sla),
        escalation_contact=approvals.escalation_contact,
        auto_approve_low_risk=approvals.auto_approve_low_risk,
        input_timeout=approvals.input_timeout,
        require_signed_decisions=settings.signatures.require_signed_decisions,
        registry=load_registry(settings.reviewer_registry_file).trust_anchors(),
    )
    digest = hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:12]
    return policy.model_copy(update={"version": f"approval-policy/{digest}"})


class ApprovalPolicyActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn(name="load_approval_policy")
    @with_policy(CONFIG_READ)
    async def load_approval_policy(self, domain: str) -> ApprovalPolicy:
        """The approval policy in force for ``domain``."""
        return policy_from_settings(self.settings, domain)
