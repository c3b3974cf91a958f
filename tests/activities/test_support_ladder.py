"""The support authority ladder: which ticket needs which approver, read from configuration."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from activities.connectors.crm import CustomerHistory, OrderRecord
from activities.support.ladder import AuthorityLadder, ladder_from_settings
from activities.support.models import Category, RefundOffer, TicketClassification
from sluice.config import ConfigError, Settings, load_settings
from workflows import support_triage
from workflows.support_ladder import (
    LadderFacts,
    pages_on_call,
    queue_for,
    refund_offer,
    required_authority,
)

LADDER = ladder_from_settings(Settings(), "support_triage")


def triage(
    category: str, confidence: float = 0.95, urgency: str = "normal"
) -> TicketClassification:
    return TicketClassification(
        category=Category(category),
        urgency=urgency,
        sentiment="neutral",
        language="en",
        confidence=confidence,
        rationale="test",
    )


def facts(category: str, confidence: float = 0.95, **changes: Any) -> LadderFacts:
    values: dict[str, Any] = {
        "classification": triage(category, confidence),
        "customer_known": True,
        "lifetime_spend": Decimal("500"),
    }
    values.update(changes)
    return LadderFacts(**values)


def refund(amount: str, currency: str = "EUR") -> RefundOffer:
    return RefundOffer(order_id="ORD-1", amount=Decimal(amount), currency=currency)


def order(total: str, refunded: str = "0") -> OrderRecord:
    return OrderRecord(
        order_id="ORD-1",
        placed_at=date(2026, 3, 1),
        status="delivered",
        items="1 × Kettle",
        total=Decimal(total),
        refunded=Decimal(refunded),
        currency="EUR",
    )


def test_confident_delivery_question_is_answered_without_anyone() -> None:
    authority = required_authority(LADDER, facts("delivery"))

    assert authority.automatic and authority.decision_kind is None
    assert [rung.rule for rung in authority.rungs] == ["auto_reply"]


def test_refund_within_the_threshold_needs_an_agent() -> None:
    authority = required_authority(LADDER, facts("refund_request", refund=refund("250.00")))

    assert (authority.level, authority.decision_kind) == ("agent", "refund_approval")


def test_refund_above_the_threshold_needs_a_supervisor() -> None:
    authority = required_authority(LADDER, facts("refund_request", refund=refund("250.01")))

    assert (authority.level, authority.decision_kind) == (
        "supervisor",
        "supervisor_refund_approval",
    )


def test_refund_in_another_currency_needs_a_supervisor() -> None:
    authority = required_authority(LADDER, facts("refund_request", refund=refund("20", "GBP")))

    assert authority.level == "supervisor"


@pytest.mark.parametrize(
    ("category", "kind"),
    [("account_access", "account_access_approval"), ("legal_privacy", "legal_privacy_approval")],
)
def test_account_and_privacy_tickets_need_an_agent_however_confident(
    category: str, kind: str
) -> None:
    authority = required_authority(LADDER, facts(category, confidence=1.0))

    assert (authority.level, authority.decision_kind) == ("agent", kind)


def test_complaint_from_a_high_value_customer_needs_the_complaint_approver() -> None:
    valued = required_authority(LADDER, facts("complaint", lifetime_spend=Decimal("2000")))
    regular = required_authority(LADDER, facts("complaint", lifetime_spend=Decimal("1999.99")))

    assert valued.decision_kind == "complaint_approval"
    assert regular.decision_kind == "reply_approval"


def test_guard_hits_take_away_the_automatic_reply() -> None:
    steered = required_authority(
        LADDER, facts("delivery", confidence=1.0, ticket_guard_hits=["instruction_override"])
    )
    committing = required_authority(
        LADDER, facts("delivery", reply_guard_hits=["reply_promises_refund"])
    )

    assert steered.level == "agent" and "suspected_prompt_injection" in [
        rung.rule for rung in steered.rungs
    ]
    assert committing.level == "agent" and "reply_makes_commitment" in [
        rung.rule for rung in committing.rungs
    ]


def test_confidence_decides_between_auto_reply_agent_and_human_queue() -> None:
    sure = facts("delivery", confidence=0.85)
    unsure = facts("delivery", confidence=0.84)
    lost = facts("delivery", confidence=0.59)

    assert required_authority(LADDER, sure).automatic
    assert [r.rule for r in required_authority(LADDER, unsure).rungs] == [
        "confidence_below_auto_reply"
    ]
    assert [r.rule for r in required_authority(LADDER, lost).rungs] == ["low_confidence"]
    assert queue_for(LADDER, sure.classification, []) == "logistics"
    assert queue_for(LADDER, lost.classification, []) == "human-review"
    assert queue_for(LADDER, sure.classification, ["fake_approval"]) == "human-review"


def test_urgent_tickets_page_unless_the_text_tried_to_steer_the_model() -> None:
    urgent = triage("technical_issue", urgency="urgent")

    assert pages_on_call(LADDER, urgent, [])
    assert not pages_on_call(LADDER, urgent, ["instruction_override"])
    assert not pages_on_call(LADDER, triage("technical_issue", urgency="high"), [])


def test_refund_amount_comes_from_the_crm_order_only() -> None:
    def history(referenced: OrderRecord | None) -> CustomerHistory:
        return CustomerHistory(customer_id="C-1", known=True, referenced_order=referenced)

    asked = triage("refund_request")
    assert refund_offer(asked, history(order("89.90"))) == refund("89.90")
    assert refund_offer(asked, history(order("89.90", refunded="30.00"))) == refund("59.90")
    assert refund_offer(asked, history(order("89.90", refunded="89.90"))) is None
    assert refund_offer(asked, history(None)) is None
    assert refund_offer(triage("complaint"), history(order("89.90"))) is None


def test_a_category_cannot_both_need_an_agent_and_be_answered_automatically() -> None:
    settings = Settings()
    support_triage.PROCESS.section(settings).auto_reply_categories.append("refund_request")

    with pytest.raises(ConfigError, match="refund_request"):
        ladder_from_settings(settings, "support_triage")


def test_an_unknown_category_in_the_configuration_is_named() -> None:
    settings = Settings()
    support_triage.PROCESS.section(settings).queues["shipping"] = "logistics"

    with pytest.raises(ConfigError, match="shipping"):
        ladder_from_settings(settings, "support_triage")


def test_the_shipped_configuration_lets_the_readme_demo_approve_every_kind() -> None:
    settings = load_settings(Path(__file__).resolve().parents[2] / "sluice.toml", environ={})
    ladder: AuthorityLadder = ladder_from_settings(settings, "support_triage")
    reviewers = settings.approvals_for("support_triage").reviewers

    assert reviewers["*"] == ["alice", "bob"]
    assert "alice" in reviewers[ladder.supervisor_refund_approval]
    assert "bob" not in reviewers[ladder.supervisor_refund_approval]
    assert ladder.version.startswith("support-ladder/")
