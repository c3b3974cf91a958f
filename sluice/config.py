"""Configuration: one typed object, read from a TOML file and the environment.

Workers and the CLI read the same settings so that an operator changes a reviewer
allow-list, a timeout or a connector address in one place. Workflow code never reads
configuration directly (that would not replay deterministically): it asks for the parts
it needs through an activity, and the answer is recorded in the run's history.
"""

from __future__ import annotations

import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

DEFAULT_CONFIG_FILE = Path("sluice.toml")


class ConfigError(Exception):
    """The configuration file or an environment variable is not usable."""


class TemporalSettings(BaseModel):
    """Where the Temporal service is and how to reach it."""

    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "sluice"
    api_key: str | None = None
    tls: bool = False
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = None
    tls_server_ca: Path | None = None
    tls_server_name: str | None = None


class ModelSettings(BaseModel):
    """Which model provider answers, and with which models."""

    provider: Literal["offline", "mistral"] | None = None
    mistral_api_key: str | None = None
    mistral_server_url: str | None = None
    chat_model: str = "mistral-small-latest"
    ocr_model: str = "mistral-ocr-latest"
    request_timeout_seconds: float = 60.0

    @property
    def effective_provider(self) -> Literal["offline", "mistral"]:
        """The offline provider is the default whenever no Mistral key is configured."""
        if self.provider:
            return self.provider
        return "mistral" if self.mistral_api_key else "offline"


class ConnectorSettings(BaseModel):
    """Systems of record. An empty URL means the embedded SQLite (or file) default."""

    terminal_url: str | None = None
    notifications_url: str | None = None
    sanctions_url: str | None = None
    sanctions_api_key: str | None = None
    sanctions_list_path: Path | None = None
    sanctions_threshold: float = 0.85
    http_timeout_seconds: float = 10.0


class DomainApprovalSettings(BaseModel):
    """Who may decide what in one domain, and how long a decision may wait."""

    reviewers: dict[str, list[str]] = Field(default_factory=dict)
    sla_minutes: float = 240.0
    final_timeout_minutes: float = 1440.0
    escalation_contact: str = "duty-manager"

    @property
    def sla(self) -> timedelta:
        return timedelta(minutes=self.sla_minutes)

    @property
    def final_timeout(self) -> timedelta:
        return timedelta(minutes=self.final_timeout_minutes)


class CargoSettings(BaseModel):
    """Tolerances for the cargo document cross-check rules."""

    weight_tolerance_percent: float = 2.0
    package_count_tolerance: int = 0
    value_tolerance_percent: float = 1.0


class Settings(BaseModel):
    """Everything a Sluice worker or CLI needs to know."""

    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    connectors: ConnectorSettings = Field(default_factory=ConnectorSettings)
    approvals: dict[str, DomainApprovalSettings] = Field(default_factory=dict)
    cargo: CargoSettings = Field(default_factory=CargoSettings)
    data_dir: Path = Path("var")

    def approvals_for(self, domain: str) -> DomainApprovalSettings:
        """Approval settings of a domain; an unknown domain gets an empty allow-list."""
        return self.approvals.get(domain, DomainApprovalSettings())


# Environment variables that override the file, as (variable, path into Settings).
_ENVIRONMENT: list[tuple[str, tuple[str, ...]]] = [
    ("TEMPORAL_ADDRESS", ("temporal", "address")),
    ("TEMPORAL_NAMESPACE", ("temporal", "namespace")),
    ("TEMPORAL_API_KEY", ("temporal", "api_key")),
    ("TEMPORAL_TLS", ("temporal", "tls")),
    ("TEMPORAL_TLS_CLIENT_CERT", ("temporal", "tls_client_cert")),
    ("TEMPORAL_TLS_CLIENT_KEY", ("temporal", "tls_client_key")),
    ("TEMPORAL_TLS_SERVER_CA", ("temporal", "tls_server_ca")),
    ("TEMPORAL_TLS_SERVER_NAME", ("temporal", "tls_server_name")),
    ("SLUICE_TASK_QUEUE", ("temporal", "task_queue")),
    ("SLUICE_MODEL_PROVIDER", ("model", "provider")),
    ("MISTRAL_API_KEY", ("model", "mistral_api_key")),
    ("MISTRAL_SERVER_URL", ("model", "mistral_server_url")),
    ("SLUICE_CHAT_MODEL", ("model", "chat_model")),
    ("SLUICE_TERMINAL_URL", ("connectors", "terminal_url")),
    ("SLUICE_NOTIFICATIONS_URL", ("connectors", "notifications_url")),
    ("SLUICE_SANCTIONS_URL", ("connectors", "sanctions_url")),
    ("SLUICE_SANCTIONS_API_KEY", ("connectors", "sanctions_api_key")),
    ("SLUICE_SANCTIONS_LIST", ("connectors", "sanctions_list_path")),
    ("SLUICE_DATA_DIR", ("data_dir",)),
]


def load_settings(
    config_file: Path | str | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Read the TOML file (``SLUICE_CONFIG`` or ``./sluice.toml`` when present), then the
    environment on top. Raises ConfigError with the file and field named."""
    environ = dict(os.environ if environ is None else environ)
    path = Path(config_file or environ.get("SLUICE_CONFIG") or DEFAULT_CONFIG_FILE)
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from err
    elif config_file or environ.get("SLUICE_CONFIG"):
        raise ConfigError(f"{path}: configuration file not found")
    for variable, where in _ENVIRONMENT:
        value = environ.get(variable)
        if value:
            section = raw
            for key in where[:-1]:
                section = section.setdefault(key, {})
            section[where[-1]] = value
    try:
        return Settings.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{path}: {field}: {first['msg']}") from err
