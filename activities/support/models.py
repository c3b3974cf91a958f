"""Payloads of the support triage process: the ticket as received, what the model made of
it, the reply it drafted, and what the text guards found. Plain JSON on the wire, so the
``temporal`` CLI can start a run from a file."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from activities.connectors.crm import CustomerHistory
from sluice.model_contracts import ModelRecord

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$"
LANGUAGE_PATTERN = r"^[a-z]{2}$"


class Channel(StrEnum):
    EMAIL = "email"
    CHAT = "chat"
    WEB_FORM = "web_form"
    PHONE = "phone"


class Category(StrEnum):
    BILLING = "billing"
    REFUND_REQUEST = "refund_request"
    TECHNICAL_ISSUE = "technical_issue"
    ACCOUNT_ACCESS = "account_access"
    COMPLAINT = "complaint"
    LEGAL_PRIVACY = "legal_privacy"
    DELIVERY = "delivery"
    GENERAL_QUESTION = "general_question"
    OTHER = "other"


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Sentiment(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class Ticket(BaseModel):
    """A customer's ticket as the help desk received it.

    A ticket without a customer id, or with an empty subject or body, is still a ticket: the
    run hands it to a person instead of refusing it, so it is never lost (see the text guards).
    """

    model_config = ConfigDict(extra="forbid")

    ticket_id: str = Field(pattern=ID_PATTERN)
    customer_id: str | None = Field(default=None, pattern=ID_PATTERN)
    channel: Channel
    subject: str = Field(default="", max_length=300)
    body: str = Field(default="", max_length=20000)
    order_id: str | None = Field(default=None, pattern=ID_PATTERN)

    @field_validator("customer_id", "order_id", mode="before")
    @classmethod
    def _blank_is_missing(cls, value: object) -> object:
        # Help desks send "" (or spaces) for a field nobody filled in.
        return None if isinstance(value, str) and not value.strip() else value

    def sha256(self) -> str:
        """Fingerprint of the customer's text, recorded in the audit trail instead of it."""
        return hashlib.sha256(f"{self.subject}\n\n{self.body}".encode()).hexdigest()


class TicketClassification(BaseModel):
    """What the model is asked for: how to file and prioritise the ticket."""

    category: Category
    urgency: Urgency
    sentiment: Sentiment
    language: str = Field(pattern=LANGUAGE_PATTERN, description="ISO 639-1 code")
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(min_length=1, max_length=400)


class ClassifiedTicket(BaseModel):
    """The classification, and which model and prompt produced it."""

    classification: TicketClassification
    model: ModelRecord


class RefundOffer(BaseModel):
    """A refund the rules allow to be proposed: the order and amount come from the CRM."""

    order_id: str
    amount: Decimal = Field(gt=0)
    currency: str


class DraftRequest(BaseModel):
    ticket: Ticket
    classification: TicketClassification
    history: CustomerHistory
    refund: RefundOffer | None = None


class ReplyDraft(BaseModel):
    """What the model is asked for: a reply, and the facts from the history it relied on."""

    language: str = Field(pattern=LANGUAGE_PATTERN)
    body: str = Field(min_length=1, max_length=8000)
    grounding: list[str] = Field(default_factory=list, max_length=20)


class DraftedReply(BaseModel):
    draft: ReplyDraft
    model: ModelRecord


class GuardContext(BaseModel):
    """The validated fields a text is checked against: ids a ticket may name, the customer's
    own address a reply may name, the language a reply must be in."""

    customer_id: str | None = None
    order_id: str | None = None
    customer_email: str | None = None
    language: str | None = Field(default=None, description="the ticket's, as classified")
    stated_language: str | None = Field(default=None, description="the draft's, as stated")


class TextGuardRequest(BaseModel):
    """Text to check before it can steer a decision: a ticket, a drafted reply, or a reply
    an approver edited, about to go out."""

    target: Literal["ticket", "reply", "edited_reply"]
    text: str
    subject: str = Field(default="", description="a ticket's subject, checked with its text")
    context: GuardContext = Field(default_factory=GuardContext)


class GuardHit(BaseModel):
    rule: str
    message: str
    hands_over: bool = Field(
        default=False,
        description="the ticket cannot be handled at all: it goes to a person as it is",
    )


class TextGuardReport(BaseModel):
    """Which guard rules fired. The matched text itself is not kept: only the rule."""

    ruleset: str
    target: Literal["ticket", "reply", "edited_reply"]
    rules_applied: list[str]
    hits: list[GuardHit]
    allowed_domains: list[str] = Field(
        default_factory=list, description="the company's domains a reply was checked against"
    )


# --- the run's outcome and the workflow's own models (here, not in the workflow module:
# see ``PASSED_THROUGH`` in sluice/app/plugin.py) ------------------------------------------


class SupportTriageOutcome(BaseModel):
    """How the run ended for the ticket."""

    ticket_id: str
    action: Literal["replied", "handed_to_human"]
    queue: str | None = None
    category: Category | None = None
    urgency: Urgency | None = None
    confidence: float | None = None
    paged_on_call: bool = False
    new_contact: bool | None = None
    decision: str | None = None
    decided_by: list[str] = Field(default_factory=list)
    ladder_rules: list[str] = Field(default_factory=list)
    reply_reference: str | None = None
    reply_edited: bool = False
    refund_reference: str | None = None
    refund_amount: Decimal | None = None
    refund_currency: str | None = None
    reason: str | None = None
