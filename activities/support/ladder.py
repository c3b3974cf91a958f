"""The authority ladder of support triage, as data: who may let which action happen and where
tickets go (``[support]`` in ``sluice.toml``). It is fetched once per run by an activity, so the
run keeps the ladder it started with and the audit shows which one applied. The workflow
applies it with the decisions in ``workflows/support_ladder.py``.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from temporalio import activity

from activities.support.models import Category, Urgency
from sluice.activity_policy import with_policy
from sluice.config import ConfigError, Settings
from sluice.framework.policy import CONFIG_READ

Level = Literal["auto", "agent", "supervisor"]


class SupportSettings(BaseModel):
    """The support triage authority ladder: what the run may do alone, what needs an agent,
    what needs a supervisor, and where tickets go. Read through an activity, never by the
    workflow itself (see ``activities/support/ladder.py``)."""

    queues: dict[str, str] = Field(
        default_factory=lambda: {
            "billing": "billing",
            "refund_request": "billing",
            "technical_issue": "tech-support",
            "account_access": "account-security",
            "complaint": "customer-care",
            "legal_privacy": "privacy-office",
            "delivery": "logistics",
            "general_question": "general",
            "other": "general",
        }
    )
    human_queue: str = "human-review"
    auto_reply_categories: list[str] = Field(
        default_factory=lambda: ["general_question", "delivery", "technical_issue"]
    )
    auto_reply_min_confidence: float = Field(default=0.85, ge=0, le=1)
    human_review_below_confidence: float = Field(default=0.6, ge=0, le=1)
    agent_approval: dict[str, str] = Field(
        default_factory=lambda: {
            "refund_request": "refund_approval",
            "account_access": "account_access_approval",
            "legal_privacy": "legal_privacy_approval",
        }
    )
    reply_approval: str = "reply_approval"
    high_value_complaint_approval: str = "complaint_approval"
    high_value_lifetime_spend: float = Field(default=2000.0, ge=0)
    refund_supervisor_above: float = Field(default=250.0, ge=0)
    supervisor_refund_approval: str = "supervisor_refund_approval"
    currency: str = "EUR"
    page_on_urgency: list[str] = Field(default_factory=lambda: ["urgent"])
    on_call_contact: str = "support-on-call"
    # What a reply may name without an agent (activities/support/reply_check.py): links to
    # these domains and their subdomains only (none: no links), and this address.
    company_domains: list[str] = Field(default_factory=list)
    support_address: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @field_validator("company_domains")
    @classmethod
    def _domain_names(cls, domains: list[str]) -> list[str]:
        for domain in domains:
            labels = domain.split(".")
            if len(labels) < 2 or not all(
                label and label.isascii() and label.replace("-", "").isalnum() for label in labels
            ):
                raise ValueError(f"{domain!r} is not a domain name (write shop.example)")
        return [domain.lower() for domain in domains]


class AuthorityLadder(BaseModel):
    """Who may let which action happen, and where tickets go."""

    domain: str
    queues: dict[Category, str]
    human_queue: str
    auto_reply_categories: list[Category]
    auto_reply_min_confidence: float
    human_review_below_confidence: float
    agent_approval: dict[Category, str]
    reply_approval: str
    high_value_complaint_approval: str
    high_value_lifetime_spend: Decimal
    refund_supervisor_above: Decimal
    supervisor_refund_approval: str
    currency: str
    page_on_urgency: list[Urgency]
    on_call_contact: str
    version: str = ""


def ladder_from_settings(settings: Settings, domain: str) -> AuthorityLadder:
    """The ladder in the configuration, checked and stamped with a hash of its content."""
    support = settings.section("support", SupportSettings)
    try:
        ladder = AuthorityLadder(
            domain=domain,
            queues={Category(k): v for k, v in support.queues.items()},
            human_queue=support.human_queue,
            auto_reply_categories=[Category(c) for c in support.auto_reply_categories],
            auto_reply_min_confidence=support.auto_reply_min_confidence,
            human_review_below_confidence=support.human_review_below_confidence,
            agent_approval={Category(k): v for k, v in support.agent_approval.items()},
            reply_approval=support.reply_approval,
            high_value_complaint_approval=support.high_value_complaint_approval,
            high_value_lifetime_spend=Decimal(str(support.high_value_lifetime_spend)),
            refund_supervisor_above=Decimal(str(support.refund_supervisor_above)),
            supervisor_refund_approval=support.supervisor_refund_approval,
            currency=support.currency,
            page_on_urgency=[Urgency(u) for u in support.page_on_urgency],
            on_call_contact=support.on_call_contact,
        )
    except ValueError as err:
        raise ConfigError(f"[support]: {err}") from err
    risky = set(ladder.agent_approval) & set(ladder.auto_reply_categories)
    if risky:
        names = ", ".join(sorted(risky))
        raise ConfigError(f"[support]: {names} both needs an agent and is answered automatically")
    digest = hashlib.sha256(ladder.model_dump_json().encode()).hexdigest()[:12]
    return ladder.model_copy(update={"version": f"support-ladder/{digest}"})


class SupportLadderActivities:
    """The ladder, read where the configuration lives (checked when the worker starts)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        ladder_from_settings(settings, "support_triage")

    @activity.defn(name="load_support_ladder")
    @with_policy(CONFIG_READ)
    async def load_support_ladder(self, domain: str) -> AuthorityLadder:
        """The authority ladder in force for ``domain``."""
        return ladder_from_settings(self.settings, domain)
