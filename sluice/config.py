"""Configuration: one typed object, read from a TOML file and the environment.

The connection to Temporal is configured as every Temporal tool configures it: a profile of
``temporal.toml`` (``temporal config set ...``; ``TEMPORAL_PROFILE``, ``TEMPORAL_CONFIG_FILE``)
and the standard ``TEMPORAL_*`` variables, read by the SDK's own ``temporalio.envconfig``.
Command-line flags win over the variables, the variables over the profile, the profile over
``[temporal]`` in ``sluice.toml``.

Workers and the CLI read the same settings so that an operator changes a reviewer
allow-list, a timeout or a connector address in one place. Workflow code never reads
configuration directly (that would not replay deterministically): it asks for the parts
it needs through an activity, and the answer is recorded in the run's history.
"""

from __future__ import annotations

import logging
import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS

from sluice.validation import field_problems, validation_problems

DEFAULT_CONFIG_FILE = Path("sluice.toml")

SectionT = TypeVar("SectionT", bound=BaseModel)

log = logging.getLogger("sluice.config")


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
    # The same certificates and key given inline (PEM text), as TEMPORAL_TLS_*_DATA gives them.
    tls_client_cert_data: str | None = None
    tls_client_key_data: str | None = None
    tls_server_ca_data: str | None = None
    tls_server_name: str | None = None
    # gRPC metadata sent with every request (TEMPORAL_GRPC_META_<NAME>, --grpc-meta).
    grpc_meta: dict[str, str] = Field(default_factory=dict)
    # The temporal.toml profile chosen by name (--profile, TEMPORAL_PROFILE), for messages.
    profile: str | None = None
    # The build this worker runs: recorded on every workflow task it completes, as version
    # "<deployment_name>.<build_id>". With worker_versioning the server also routes each run
    # to the deployment's current build (set with `temporal worker deployment
    # set-current-version`). Unset: unversioned, as in development.
    build_id: str | None = None
    deployment_name: str = Field(default="sluice", pattern=r"^[^.]+$")
    worker_versioning: bool = False


class ModelPrice(BaseModel):
    """A model's list price in US dollars, for cost estimates: per million tokens for chat
    models, per thousand pages for OCR models."""

    input_per_million: float = Field(default=0.0, ge=0)
    output_per_million: float = Field(default=0.0, ge=0)
    per_thousand_pages: float = Field(default=0.0, ge=0)

    def cost_usd(self, input_tokens: int, output_tokens: int, pages: int = 0) -> float:
        return (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1_000_000 + pages * self.per_thousand_pages / 1000


# Mistral's public list prices (USD per million tokens) when this table was written; they
# change, so check https://mistral.ai/pricing and override them under [model.prices."name"].
# The offline provider costs nothing.
DEFAULT_MODEL_PRICES: dict[str, ModelPrice] = {
    "mistral-small-latest": ModelPrice(input_per_million=0.10, output_per_million=0.30),
    "mistral-medium-latest": ModelPrice(input_per_million=0.40, output_per_million=2.00),
    "mistral-large-latest": ModelPrice(input_per_million=2.00, output_per_million=6.00),
    "mistral-ocr-latest": ModelPrice(per_thousand_pages=2.00),
    "sluice-offline-rules-1": ModelPrice(),
}


class ModelLimit(BaseModel):
    """What the provider allows one model per minute (tokens are input plus output)."""

    requests_per_minute: float = Field(default=60.0, gt=0)
    tokens_per_minute: float = Field(default=500_000.0, gt=0)


class RateLimitSettings(BaseModel):
    """Model rate limits. The defaults are Mistral's free tier (1 request per second,
    500,000 tokens per minute); raise them to your organisation's tier."""

    # All model calls together: enforced by the Temporal server on the model task queue,
    # however many workers poll it.
    requests_per_minute: float = Field(default=60.0, gt=0)
    # Per-model limits enforced in each worker; a model not listed gets the defaults.
    tokens_per_minute: float = Field(default=500_000.0, gt=0)
    models: dict[str, ModelLimit] = Field(default_factory=dict)
    # Each of this many model workers keeps 1/workers of the token budget.
    workers: int = Field(default=1, ge=1)
    # No 60 s window ever holds more than a per-minute limit: this many seconds' worth of it may
    # go out at once, and the rest of the minute is paced evenly, so the steady pace is
    # (60 - burst_seconds) / 60 of the limit.
    burst_seconds: float = Field(default=3.0, gt=0, le=30)
    # The model task queue's partitions on the Temporal server (its default is 4). The server
    # lets each partition dispatch a task at once on top of the pace, so the queue's pace
    # leaves room for that many (see ``sluice.ratelimit.queue_dispatch_rate``).
    queue_partitions: int = Field(default=4, ge=1)
    # How long a call may wait for capacity before handing its slot back to Temporal.
    max_wait_seconds: float = Field(default=2.0, ge=0)
    # Added to the prompt's estimated tokens when reserving, settled after the call.
    expected_output_tokens: int = Field(default=512, ge=0)

    def for_model(self, model: str) -> ModelLimit:
        return self.models.get(
            model,
            ModelLimit(
                requests_per_minute=self.requests_per_minute,
                tokens_per_minute=self.tokens_per_minute,
            ),
        )


class ModelSettings(BaseModel):
    """Which model provider answers, and with which models."""

    provider: Literal["offline", "mistral"] | None = None
    mistral_api_key: str | None = None
    mistral_server_url: str | None = None
    chat_model: str = "mistral-small-latest"
    ocr_model: str = "mistral-ocr-latest"
    request_timeout_seconds: float = 60.0
    prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_MODEL_PRICES))
    limits: RateLimitSettings = Field(default_factory=RateLimitSettings)

    @field_validator("prices")
    @classmethod
    def _keep_default_prices(cls, prices: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        """Prices in the file add to (or override) the defaults rather than replace them."""
        return {**DEFAULT_MODEL_PRICES, **prices}

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
    # An OpenSanctions export (targets.simple.csv or FollowTheMoney JSON lines) to download.
    sanctions_list_url: str | None = None
    # Reload the list file or URL this often, in the background of each worker (None: never).
    sanctions_refresh_minutes: float | None = Field(default=None, gt=0)
    sanctions_threshold: float = 0.85
    crm_url: str | None = None
    ticketing_url: str | None = None
    payments_url: str | None = None
    http_timeout_seconds: float = 10.0


class DomainApprovalSettings(BaseModel):
    """Who may decide what in one domain, and how long a decision may wait."""

    reviewers: dict[str, list[str]] = Field(default_factory=dict)
    sla_minutes: float = 240.0
    final_timeout_minutes: float = 1440.0
    escalation_contact: str = "duty-manager"
    # A low-risk run may decide on its own only where the domain's owner allows it.
    auto_approve_low_risk: bool = False
    # How long a run waits for an input it asked a person for (e.g. a missing document).
    input_timeout_minutes: float = Field(default=10080.0, gt=0)

    @property
    def sla(self) -> timedelta:
        return timedelta(minutes=self.sla_minutes)

    @property
    def final_timeout(self) -> timedelta:
        return timedelta(minutes=self.final_timeout_minutes)

    @property
    def input_timeout(self) -> timedelta:
        return timedelta(minutes=self.input_timeout_minutes)


class SignatureSettings(BaseModel):
    """How decisions prove who made them (the scalar keys of the ``[approvals]`` table)."""

    # Off only for a deployment that has not handed out reviewer keys yet: then a decision
    # is taken by the name it carries, as before signed decisions.
    require_signed_decisions: bool = True
    # The reviewer registry (identities, keys, trusted issuers); default
    # {data_dir}/reviewers.json, created with the sample reviewers by `worker.py --dev`.
    registry_file: Path | None = None
    # How long a decision signed by `starter.py approve` or `starter.py sign` stays valid.
    token_minutes: float = Field(default=15.0, gt=0, le=7 * 24 * 60)


class DocumentSettings(BaseModel):
    """Documents given by path (see ``sluice/intake.py``): read from the intake folder only."""

    # Paths in inputs are relative to this folder. It must not be, hold or lie inside the data
    # folder or the key file's folder, nor hold the configuration (checked when loading).
    intake_dir: Path = Path("intake")
    # The largest document read, by path or as a data URL.
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)


class TelemetrySettings(BaseModel):
    """Where traces go: OTLP when an endpoint is set, otherwise a local JSON-lines file."""

    # The collector's base URL (http://collector:4318 over HTTP, http://collector:4317 over
    # gRPC); OTEL_EXPORTER_OTLP_ENDPOINT overrides it (see ``sluice/telemetry.py``).
    otlp_endpoint: str | None = None
    otlp_protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    spans_file: Path | None = None
    # Prompts and answers carry personal data: only recorded in spans when switched on.
    capture_content: bool = False


class CodecSettings(BaseModel):
    """Payload encryption (see ``sluice/codec.py``) and the codec server that lets the UI and
    the ``temporal`` CLI show decrypted payloads to a holder of its token."""

    disabled: bool = False
    # Default: {data_dir}/codec/keys.json, created by the worker on first run.
    keys_file: Path | None = None
    # The key ring itself (the key file's JSON, or that JSON in base64), for containers that
    # get secrets from the environment; takes precedence over keys_file.
    keys: str | None = None
    # Bearer token of the codec server; default: {keys folder}/token, created by --dev.
    token: str | None = None
    server_port: int = 8081
    # Browser origins (the Temporal UI) allowed to call the codec server.
    ui_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:8233", "http://127.0.0.1:8233"]
    )

    @field_validator("ui_origins", mode="before")
    @classmethod
    def _comma_separated(cls, origins: Any) -> Any:
        """``SLUICE_CODEC_UI_ORIGINS`` lists origins separated by commas."""
        if isinstance(origins, str):
            return [origin.strip() for origin in origins.split(",") if origin.strip()]
        return origins


class PayloadSettings(BaseModel):
    """Where payloads too large for a run's history go (see ``sluice/payload_store.py``).
    Every worker and every CLI must use the same store: a payload one of them stores, the
    others read back."""

    store: Literal["local", "s3"] = "local"
    # Payloads of at least this many bytes (after encryption) are stored outside the
    # history. Temporal refuses payloads above 2 MB and warns from 512 KB, hence the cap.
    threshold_bytes: int = Field(default=256 * 1024, ge=0, le=2 * 1024 * 1024)
    # The local store's folder; default {data_dir}/payloads.
    directory: Path | None = None
    # An S3-compatible bucket (AWS S3, MinIO, ...); credentials and, unless s3_region is
    # set, the region come from the standard AWS environment.
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> PayloadSettings:
        if self.store == "s3" and not self.s3_bucket:
            raise ValueError("store 's3' needs s3_bucket (SLUICE_PAYLOAD_S3_BUCKET)")
        return self


class OidcSettings(BaseModel):
    """Sign-in to the inbox through an OpenID Connect provider (authorization code + PKCE)."""

    # The provider's issuer URL; its /.well-known/openid-configuration is read at start.
    issuer: str | None = None
    client_id: str | None = None
    # Secret in the environment only (SLUICE_OIDC_CLIENT_SECRET), never in the file.
    client_secret: str | None = None
    # The ID token claim that names the person; matched to a registry reviewer's e-mail
    # ("email") or id (any other claim).
    claim: str = "email"
    scope: str = "openid email profile"


class InboxSettings(BaseModel):
    """The approval web inbox (``python -m sluice.app.inbox``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8234, ge=0, le=65535)
    # The address people open, used in notification links and the OIDC redirect.
    public_url: str = "http://localhost:8234"
    # The attesting service the inbox signs decisions as (its key: {data_dir}/inbox/).
    service_id: str = "inbox"
    service_key_file: Path | None = None
    # Local accounts (argon2 hashes in {data_dir}/inbox/accounts.sqlite3); off when an
    # identity provider is the only way in.
    local_accounts: bool = True
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    # Decision requests are e-mailed to reviewers through this relay; none: the embedded
    # notifications ledger, shown in the inbox.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "sluice-inbox@localhost"


class Settings(BaseModel):
    """Everything a Sluice worker or CLI needs to know. A process's own section (``[cargo]``,
    or any section a declared process names) is read by ``section``."""

    # Sections this model does not name belong to processes, read with ``section``.
    model_config = ConfigDict(extra="allow")

    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    connectors: ConnectorSettings = Field(default_factory=ConnectorSettings)
    approvals: dict[str, DomainApprovalSettings] = Field(default_factory=dict)
    signatures: SignatureSettings = Field(default_factory=SignatureSettings)
    documents: DocumentSettings = Field(default_factory=DocumentSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    codec: CodecSettings = Field(default_factory=CodecSettings)
    payloads: PayloadSettings = Field(default_factory=PayloadSettings)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    data_dir: Path = Path("var")
    # "json" in containers: one JSON object per log line (see ``sluice/logs.py``).
    log_format: Literal["text", "json"] = "text"

    @model_validator(mode="before")
    @classmethod
    def _approvals_table(cls, raw: Any) -> Any:
        """``[approvals]`` holds a table per domain and, beside them, the signature keys."""
        approvals = raw.get("approvals") if isinstance(raw, dict) else None
        if isinstance(approvals, dict):
            fields = SignatureSettings.model_fields
            scalars = {k: v for k, v in approvals.items() if k in fields}
            if scalars:
                raw = {
                    **raw,
                    "approvals": {k: v for k, v in approvals.items() if k not in fields},
                    "signatures": {**raw.get("signatures", {}), **scalars},
                }
        return raw

    def section(self, name: str, model: type[SectionT]) -> SectionT:
        """The configuration section ``name`` read as ``model`` (its defaults when absent)."""
        sections = self.__pydantic_extra__
        assert sections is not None  # extra="allow"
        value = sections.get(name, {})
        if isinstance(value, model):
            return value
        try:
            section = model.model_validate(value)
        except ValidationError as err:
            raise ConfigError(f"[{name}]: {validation_problems(err)}") from None
        # Read once: every later reader (and a test that adjusts it) sees the same object.
        sections[name] = section
        return section

    @property
    def reviewer_registry_file(self) -> Path:
        """Where the reviewer registry is read and written."""
        return self.signatures.registry_file or self.data_dir / "reviewers.json"

    @property
    def spans_file(self) -> Path:
        """The local trace file (used when no OTLP endpoint is set)."""
        return self.telemetry.spans_file or self.data_dir / "traces" / "spans.jsonl"

    @property
    def keys_file(self) -> Path:
        """The codec's key file: the configured one, or ``{data_dir}/codec/keys.json``."""
        return self.codec.keys_file or self.data_dir / "codec" / "keys.json"

    @property
    def payload_dir(self) -> Path:
        """The local payload store's folder: the configured one, or ``{data_dir}/payloads``."""
        return self.payloads.directory or self.data_dir / "payloads"

    def approvals_for(self, domain: str) -> DomainApprovalSettings:
        """Approval settings of a domain; an unknown domain gets an empty allow-list."""
        return self.approvals.get(domain, DomainApprovalSettings())


# Environment variables that override the file, as (variable, path into Settings).
_ENVIRONMENT: list[tuple[str, tuple[str, ...]]] = [
    # TEMPORAL_* variables are read with the temporal.toml profile (see apply_temporal_profile).
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
    ("SLUICE_SANCTIONS_LIST_URL", ("connectors", "sanctions_list_url")),
    ("SLUICE_SANCTIONS_REFRESH_MINUTES", ("connectors", "sanctions_refresh_minutes")),
    ("SLUICE_CRM_URL", ("connectors", "crm_url")),
    ("SLUICE_TICKETING_URL", ("connectors", "ticketing_url")),
    ("SLUICE_PAYMENTS_URL", ("connectors", "payments_url")),
    ("SLUICE_DATA_DIR", ("data_dir",)),
    ("SLUICE_INTAKE_DIR", ("documents", "intake_dir")),
    ("SLUICE_REVIEWER_REGISTRY", ("approvals", "registry_file")),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", ("telemetry", "otlp_endpoint")),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", ("telemetry", "otlp_protocol")),
    ("SLUICE_CAPTURE_MODEL_CONTENT", ("telemetry", "capture_content")),
    ("SLUICE_CODEC_DISABLED", ("codec", "disabled")),
    ("SLUICE_CODEC_KEYS_FILE", ("codec", "keys_file")),
    ("SLUICE_CODEC_TOKEN", ("codec", "token")),
    ("SLUICE_CODEC_PORT", ("codec", "server_port")),
    ("SLUICE_CODEC_KEYS", ("codec", "keys")),
    ("SLUICE_CODEC_UI_ORIGINS", ("codec", "ui_origins")),
    ("SLUICE_BUILD_ID", ("temporal", "build_id")),
    ("SLUICE_DEPLOYMENT_NAME", ("temporal", "deployment_name")),
    ("SLUICE_WORKER_VERSIONING", ("temporal", "worker_versioning")),
    ("SLUICE_LOG_FORMAT", ("log_format",)),
    ("SLUICE_INBOX_HOST", ("inbox", "host")),
    ("SLUICE_INBOX_PORT", ("inbox", "port")),
    ("SLUICE_INBOX_URL", ("inbox", "public_url")),
    ("SLUICE_OIDC_ISSUER", ("inbox", "oidc", "issuer")),
    ("SLUICE_OIDC_CLIENT_ID", ("inbox", "oidc", "client_id")),
    ("SLUICE_OIDC_CLIENT_SECRET", ("inbox", "oidc", "client_secret")),
    ("SLUICE_SMTP_HOST", ("inbox", "smtp_host")),
    ("SLUICE_SMTP_PORT", ("inbox", "smtp_port")),
    ("SLUICE_MODEL_WORKERS", ("model", "limits", "workers")),
    ("SLUICE_PAYLOAD_STORE", ("payloads", "store")),
    ("SLUICE_PAYLOAD_THRESHOLD_BYTES", ("payloads", "threshold_bytes")),
    ("SLUICE_PAYLOAD_DIR", ("payloads", "directory")),
    ("SLUICE_PAYLOAD_S3_BUCKET", ("payloads", "s3_bucket")),
    ("SLUICE_PAYLOAD_S3_PREFIX", ("payloads", "s3_prefix")),
    ("SLUICE_PAYLOAD_S3_ENDPOINT_URL", ("payloads", "s3_endpoint_url")),
    ("SLUICE_PAYLOAD_S3_REGION", ("payloads", "s3_region")),
]


def load_settings(
    config_file: Path | str | None = None,
    environ: dict[str, str] | None = None,
    *,
    profile: str | None = None,
    temporal_config_file: Path | str | None = None,
) -> Settings:
    """Read the TOML file (``SLUICE_CONFIG`` or ``./sluice.toml`` when present), then the
    environment on top, and the connection from the temporal.toml profile (``profile`` and
    ``temporal_config_file`` as given by ``--profile`` and ``--config-file``). Raises
    ConfigError with the file and field named."""
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
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{path}: {field_problems(err)[0]}") from err
    apply_temporal_profile(
        settings.temporal, environ, profile=profile, config_file=temporal_config_file
    )
    problem = intake_problem(settings, path if path.exists() else None)
    if problem:
        raise ConfigError(f"{path}: documents.intake_dir: {problem}")
    return settings


# Variable names Sluice read before it read the standard ones; honoured for one more release.
DEPRECATED_VARIABLES = {
    "TEMPORAL_TLS_CLIENT_CERT": "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY": "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_SERVER_CA": "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
}


def standard_variables(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with each deprecated variable read under its standard name (a standard one
    set as well wins), and a warning naming the right one."""
    translated = dict(environ)
    for old, new in DEPRECATED_VARIABLES.items():
        if environ.get(old):
            log.warning(
                "warning: %s is deprecated and will stop working in the next release; "
                "set %s instead",
                old,
                new,
            )
            translated.setdefault(new, environ[old])
    return translated


def apply_temporal_profile(
    temporal: TemporalSettings,
    environ: dict[str, str],
    *,
    profile: str | None = None,
    config_file: Path | str | None = None,
) -> None:
    """Lay the temporal.toml profile and the ``TEMPORAL_*`` variables over ``temporal``: what
    they set wins over ``[temporal]`` in ``sluice.toml``; what they leave unset stays."""
    # Empty means unset, as for every other variable (docker-compose passes unset ones empty).
    env = {name: value for name, value in standard_variables(environ).items() if value}
    if config_file:
        env["TEMPORAL_CONFIG_FILE"] = str(config_file)
    named_file = env.get("TEMPORAL_CONFIG_FILE")
    if named_file and not Path(named_file).is_file():
        raise ConfigError(f"TEMPORAL_CONFIG_FILE: {named_file}: no such file")
    if env.get("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "").lower() in ("1", "true"):
        # The Python SDK has no such switch; connecting with verification on anyway would
        # ignore what the operator asked for, and silently.
        raise ConfigError(
            "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: the Temporal Python SDK always verifies "
            "the server's name; set TEMPORAL_TLS_SERVER_NAME to the name in its certificate"
        )
    chosen = profile or env.get("TEMPORAL_PROFILE") or None
    try:
        loaded = ClientConfigProfile.load(chosen, override_env_vars=env)
    except Exception as err:  # the SDK's ConfigError: unreadable file, unknown profile
        where = f"profile '{chosen}'" if chosen else "temporal.toml"
        raise ConfigError(f"{where}: {str(err).splitlines()[0]}") from None
    temporal.profile = chosen or temporal.profile
    temporal.address = loaded.address or temporal.address
    temporal.namespace = loaded.namespace or temporal.namespace
    temporal.api_key = loaded.api_key or temporal.api_key
    temporal.grpc_meta = {**temporal.grpc_meta, **loaded.grpc_meta}
    if loaded.tls is not None:
        _apply_tls(temporal, loaded.tls)


def _apply_tls(temporal: TemporalSettings, tls: ClientConfigTLS) -> None:
    if tls.disabled is not None:
        temporal.tls = not tls.disabled
    temporal.tls_server_name = tls.server_name or temporal.tls_server_name
    for source, path_field, data_field in (
        (tls.client_cert, "tls_client_cert", "tls_client_cert_data"),
        (tls.client_private_key, "tls_client_key", "tls_client_key_data"),
        (tls.server_root_ca_cert, "tls_server_ca", "tls_server_ca_data"),
    ):
        if isinstance(source, Path | str):
            setattr(temporal, path_field, Path(source))
            setattr(temporal, data_field, None)
        elif isinstance(source, bytes):
            setattr(temporal, data_field, source.decode("utf-8", errors="replace"))
            setattr(temporal, path_field, None)


def intake_problem(settings: Settings, config_file: Path | None = None) -> str | None:
    """Why the intake folder may not be used, if it may not: anyone who can name a file in
    it must reach no secret and no data of Sluice's own."""
    intake = settings.documents.intake_dir.resolve()
    private = {
        "the data folder": settings.data_dir,
        "the key file's folder": settings.keys_file.parent,
        "the payload store": settings.payload_dir,
    }
    for what, folder in private.items():
        folder = folder.resolve()
        if intake == folder or intake.is_relative_to(folder) or folder.is_relative_to(intake):
            return f"an intake folder must not be, hold or lie inside {what}"
    files = {
        "the configuration file": config_file,
        "the span file": settings.spans_file,
        "the TLS client key": settings.temporal.tls_client_key,
    }
    for what, file in files.items():
        if file is not None and file.resolve().is_relative_to(intake):
            return f"an intake folder must not hold {what}"
    return None
