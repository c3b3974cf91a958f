"""The KYC review process's activities, bound to one worker's settings and services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.kyc.documents import KycDocumentActivities
from activities.kyc.models import KycSettings
from activities.kyc.rules import KycRuleActivities
from activities.shared import model_gateway, sanctions_screening
from sluice.framework import Services


def kyc_activities(section: KycSettings, services: Services) -> list[Callable[..., Any]]:
    """Reading the documents, the rules over them and sanctions screening."""
    documents = KycDocumentActivities(services.shared(model_gateway), services.settings.documents)
    rules = KycRuleActivities(section)
    return [
        documents.transcribe_document,
        documents.extract_document,
        rules.check_documents,
        services.shared(sanctions_screening).screen_names,
    ]
