"""The model gateway: every model call in Sluice goes through one interface, with two
providers behind it (``mistral``, through the real SDK, and ``offline``, deterministic rules).
The contracts are the foundation's (``sluice.model_contracts``); this package implements them.
"""

from activities.model_gateway.gateway import (
    ModelGateway,
    provider_from_settings,
    repeated_keys,
)
from activities.model_gateway.mistral import MistralProvider, provider_errors, retry_after
from activities.model_gateway.offline import OfflineProvider
from sluice.model_contracts import (
    DOCUMENT_NEEDS_HUMAN,
    MISTRAL_PROVIDER,
    MODEL_CALL,
    MODEL_OUTPUT_INVALID,
    MODEL_RATE_LIMITED,
    MODEL_REQUEST_REJECTED,
    MODEL_UNAVAILABLE,
    OFFLINE_MODEL,
    OFFLINE_PROVIDER,
    ModelAnswer,
    ModelCall,
    ModelProvider,
    ModelRecord,
    ModelUsage,
    OcrAnswer,
    OfflineRule,
    Prompt,
)

__all__ = [
    "DOCUMENT_NEEDS_HUMAN",
    "MISTRAL_PROVIDER",
    "MODEL_CALL",
    "MODEL_OUTPUT_INVALID",
    "MODEL_RATE_LIMITED",
    "MODEL_REQUEST_REJECTED",
    "MODEL_UNAVAILABLE",
    "OFFLINE_MODEL",
    "OFFLINE_PROVIDER",
    "MistralProvider",
    "ModelAnswer",
    "ModelCall",
    "ModelGateway",
    "ModelProvider",
    "ModelRecord",
    "ModelUsage",
    "OcrAnswer",
    "OfflineProvider",
    "OfflineRule",
    "Prompt",
    "provider_errors",
    "provider_from_settings",
    "repeated_keys",
    "retry_after",
]
