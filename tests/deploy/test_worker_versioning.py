"""Worker versioning from configuration: the build a worker runs is on record in every run it
works on, and with versioning on the server routes runs by build. Unversioned (no build id)
stays the default, as every other test shows by running."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from sluice.config import ConfigError, Settings, TemporalSettings
from sluice.versioning import worker_deployment
from tests.conftest import example


async def workflow_task_builds(client: Client, workflow_id: str) -> list[dict[str, Any]]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        MessageToDict(event.workflow_task_completed_event_attributes)
        for event in history.events
        if event.HasField("workflow_task_completed_event_attributes")
    ]


async def test_every_step_records_the_build_that_made_it(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    settings.temporal.build_id = f"b{uuid.uuid4().hex[:8]}"
    async with make_worker(client):
        handle = await client.start_workflow(
            "CargoReleaseWorkflow",
            example("cargo_release", "clean"),
            id=f"versioned-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.task_queue,
        )
        await handle.result()
    tasks = await workflow_task_builds(client, handle.id)
    assert tasks
    for task in tasks:
        assert task["workerVersion"]["buildId"] == settings.temporal.build_id
        assert task["workerDeploymentName"] == "sluice"


async def test_with_versioning_a_build_takes_runs_once_it_is_current_and_they_auto_upgrade(
    client: Client, settings: Settings, make_worker: Callable[..., Any]
) -> None:
    settings.temporal.build_id = "v1"
    settings.temporal.deployment_name = f"sluice-{uuid.uuid4().hex[:8]}"
    settings.temporal.worker_versioning = True
    async with make_worker(client):
        # The version exists once its worker has polled; then an operator makes it current.
        for _ in range(60):
            try:
                await client.workflow_service.set_worker_deployment_current_version(
                    SetWorkerDeploymentCurrentVersionRequest(
                        namespace=client.namespace,
                        deployment_name=settings.temporal.deployment_name,
                        build_id="v1",
                        identity="test-operator",
                        ignore_missing_task_queues=True,
                    )
                )
                break
            except RPCError:
                await asyncio.sleep(0.5)
        else:
            pytest.fail("the worker's version never appeared in its deployment")
        handle = await client.start_workflow(
            "CargoReleaseWorkflow",
            example("cargo_release", "clean"),
            id=f"versioned-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal.task_queue,
        )
        await handle.result()
    described = await handle.describe()
    versioning = MessageToDict(described.raw_description.workflow_execution_info.versioning_info)
    assert versioning["behavior"] == "VERSIONING_BEHAVIOR_AUTO_UPGRADE"
    assert versioning["deploymentVersion"] == {
        "buildId": "v1",
        "deploymentName": settings.temporal.deployment_name,
    }


def test_versioning_without_a_build_id_is_refused_with_the_variable_to_set() -> None:
    assert worker_deployment(TemporalSettings()) is None
    with pytest.raises(ConfigError, match="SLUICE_BUILD_ID"):
        worker_deployment(TemporalSettings(worker_versioning=True))
