"""The support triage process's activities, bound to one worker's settings and services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.connectors.crm import CrmActivities, crm_from_settings
from activities.connectors.payments import PaymentActivities, payments_from_settings
from activities.connectors.ticketing import TicketingActivities, ticketing_from_settings
from activities.shared import model_gateway
from activities.support.classification import TicketClassificationActivities
from activities.support.drafting import ReplyDraftingActivities
from activities.support.guards import TextGuardActivities
from activities.support.ladder import SupportLadderActivities
from sluice.config import SupportSettings
from sluice.framework import Services


def support_activities(section: SupportSettings, services: Services) -> list[Callable[..., Any]]:
    """The ladder, classification, drafting, the text guards and the CRM, help desk and
    payment provider."""
    settings = services.settings
    gateway = services.shared(model_gateway)
    ladder = SupportLadderActivities(settings)
    guards = TextGuardActivities(settings)
    crm = CrmActivities(crm_from_settings(settings.connectors, settings.data_dir))
    ticketing = TicketingActivities(ticketing_from_settings(settings.connectors, settings.data_dir))
    payments = PaymentActivities(payments_from_settings(settings.connectors, settings.data_dir))
    return [
        ladder.load_support_ladder,
        TicketClassificationActivities(gateway).classify_ticket,
        ReplyDraftingActivities(gateway).draft_reply,
        guards.check_text,
        crm.look_up_customer,
        ticketing.route_ticket,
        ticketing.hand_over_ticket,
        ticketing.send_ticket_reply,
        payments.issue_refund,
    ]
