"""The compose stack's namespace job (`deploy/temporal/setup-namespace.sh`), run for real with
the `temporal` CLI against a dev server started without Sluice's search attributes: it
creates the namespace and every attribute, and a second run changes nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from sluice import search_attributes
from sluice.binaries import temporal_cli

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "temporal" / "setup-namespace.sh"


def run_setup(address: str, namespace: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PATH": f"{Path(temporal_cli()).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": namespace,
    }
    return subprocess.run(
        ["sh", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=240
    )


async def test_setup_job_creates_the_namespace_and_every_search_attribute_once() -> None:
    server = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), ip="127.0.0.1", ui=False
    )
    try:
        address = server.client.service_client.config.target_host
        first = await asyncio.to_thread(run_setup, address, "sluice-setup")
        assert first.returncode == 0, first.stdout + first.stderr
        again = await asyncio.to_thread(run_setup, address, "sluice-setup")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "namespace sluice-setup exists" in again.stdout
        assert again.stdout.count("exists") == 1 + len(search_attributes.ALL_KEYS)

        listed = await server.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="sluice-setup")
        )
        for key in search_attributes.ALL_KEYS:
            assert key.name in listed.custom_attributes, key.name
            assert listed.custom_attributes[key.name] == IndexedValueType.ValueType(
                key.indexed_value_type
            )
    finally:
        await server.shutdown()
