"""The support triage process's activities, bound to one worker's settings and services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.connectors.crm import Crm, CrmActivities, crm_from_settings
from activities.connectors.payments import PaymentActivities, Payments, payments_from_settings
from activities.connectors.ticketing import (
    Ticketing,
    TicketingActivities,
    ticketing_from_settings,
)
from activities.shared import model_gateway
from activities.support.classification import TicketClassificationActivities
from activities.support.drafting import ReplyDraftingActivities
from activities.support.guards import TextGuardActivities
from activities.support.ladder import SupportLadderActivities, SupportSettings
from sluice.framework import Services


def crm_from(services: Services) -> Crm:
    """The CRM when a URL is configured, otherwise the embedded demo CRM."""
    return crm_from_settings(services.settings.connectors, services.settings.data_dir)


def ticketing_from(services: Services) -> Ticketing:
    """The help desk when a URL is configured, otherwise the embedded ledger."""
    return ticketing_from_settings(services.settings.connectors, services.settings.data_dir)


def payments_from(services: Services) -> Payments:
    """The payment provider when a URL is configured, otherwise the embedded ledger."""
    return payments_from_settings(services.settings.connectors, services.settings.data_dir)


def support_activities(section: SupportSettings, services: Services) -> list[Callable[..., Any]]:
    """The ladder, classification, drafting, the text guards and the CRM, help desk and
    payment provider."""
    settings = services.settings
    gateway = services.shared(model_gateway)
    ticketing = TicketingActivities(services.shared(ticketing_from))
    return [
        SupportLadderActivities(settings).load_support_ladder,
        TicketClassificationActivities(gateway).classify_ticket,
        ReplyDraftingActivities(gateway).draft_reply,
        TextGuardActivities(settings).check_text,
        CrmActivities(services.shared(crm_from)).look_up_customer,
        ticketing.route_ticket,
        ticketing.hand_over_ticket,
        ticketing.send_ticket_reply,
        PaymentActivities(services.shared(payments_from)).issue_refund,
    ]
