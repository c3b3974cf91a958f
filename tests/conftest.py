"""Shared test fixtures: real Temporal servers from the project's packages (the dev server
for most tests, the time-skipping test server where hours must pass), a fresh task queue and
data folder per test, and a worker built exactly as production builds it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.converter import ExternalStorage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sluice import search_attributes
from sluice.app.catalog import PROCESSES
from sluice.app.wiring import build_worker
from sluice.binaries import temporal_test_server
from sluice.codec import EncryptionCodec, create_key_file, load_key_ring
from sluice.config import DomainApprovalSettings, Settings
from sluice.converter import sluice_data_converter
from sluice.devserver import start_dev_server
from sluice.payload_store import payload_storage
from sluice.reviewers import ensure_sample_reviewers
from sluice.telemetry import Telemetry, install_telemetry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Spans and metrics of the whole session, kept in memory. OpenTelemetry's providers can be
# set once per process, so they are set before any test (a CLI test would otherwise set them).
SESSION_SPANS = InMemorySpanExporter()
SESSION_METRICS = InMemoryMetricReader()


@pytest.fixture(scope="session", autouse=True)
def telemetry() -> Telemetry:
    """Tracing and metrics as production sets them up, exported to memory."""
    return install_telemetry(
        Settings(), "sluice-tests", span_exporter=SESSION_SPANS, metric_reader=SESSION_METRICS
    )


@pytest.fixture(scope="session")
def codec_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's key file: every test runs with payloads encrypted, as production does,
    and the ``settings`` fixture points at this file so CLI processes share the keys."""
    path = tmp_path_factory.mktemp("codec") / "keys.json"
    create_key_file(path)
    return path


@pytest.fixture(scope="session")
def codec(codec_keys: Path) -> EncryptionCodec:
    return EncryptionCodec(load_key_ring(codec_keys))


@pytest.fixture(scope="session")
def payload_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's payload store: large payloads leave the history as in production, and
    the ``settings`` fixture points at this folder so CLI processes read them back too."""
    return tmp_path_factory.mktemp("payloads")


@pytest.fixture(scope="session")
def external_storage(payload_store_dir: Path) -> ExternalStorage:
    settings = Settings()
    settings.payloads.directory = payload_store_dir
    return payload_storage(settings)


@pytest.fixture(scope="session")
async def dev_env(
    codec: EncryptionCodec, external_storage: ExternalStorage
) -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server(
        database_file=None,
        port=None,
        ui=False,
        data_converter=sluice_data_converter(codec, external_storage),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_env(
    codec: EncryptionCodec, external_storage: ExternalStorage
) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(),
        data_converter=sluice_data_converter(codec, external_storage),
    )
    await search_attributes.register(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
def client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client


@pytest.fixture
def task_queue() -> str:
    return f"sluice-test-{uuid.uuid4().hex[:10]}"


def approval_settings(**overrides: Any) -> DomainApprovalSettings:
    values: dict[str, Any] = {
        "reviewers": {"*": ["alice", "bob", "carol"]},
        "sla_minutes": 60,
        "final_timeout_minutes": 240,
        "escalation_contact": "duty-manager",
    }
    values.update(overrides)
    return DomainApprovalSettings(**values)


@pytest.fixture
def settings(
    tmp_path: Path, task_queue: str, codec_keys: Path, payload_store_dir: Path
) -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    settings.temporal.task_queue = task_queue
    settings.codec.keys_file = codec_keys
    settings.payloads.directory = payload_store_dir
    settings.documents.intake_dir = EXAMPLES / "kyc_review" / "intake"
    for process in PROCESSES:
        settings.approvals[process.domain] = approval_settings()
    # Every test reviewer has a registered key in the data folder, as `worker.py --dev` makes.
    ensure_sample_reviewers(
        settings.data_dir, settings.reviewer_registry_file, ["alice", "bob", "carol", "dave"]
    )
    return settings


@pytest.fixture
def make_worker(settings: Settings) -> Callable[..., Any]:
    """``async with make_worker(client, replacements=[...]) as worker:``"""

    @asynccontextmanager
    async def running(client: Client, **options: Any) -> AsyncIterator[Worker]:
        worker = build_worker(client, settings, **options)
        async with worker:
            yield worker

    return running


def example(domain: str, name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / domain / f"{name}.json").read_text())
