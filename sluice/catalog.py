"""The business processes Sluice runs: what each is called on the command line, its
workflow type, its input model and how a run is named. The CLI and the worker both read
this list, so adding a domain is one entry here plus its workflow module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

from activities.cargo.models import Shipment
from workflows.cargo_release import CargoReleaseWorkflow


@dataclass(frozen=True)
class Process:
    """One business process as the CLI and worker see it."""

    command: str
    domain: str
    title: str
    workflow: type
    input_model: type[BaseModel]
    subject: Callable[[Any], str]

    @property
    def workflow_type(self) -> str:
        name = workflow._Definition.must_from_class(self.workflow).name
        assert name is not None
        return name


PROCESSES: tuple[Process, ...] = (
    Process(
        command="cargo-release",
        domain="cargo_release",
        title="Cargo release",
        workflow=CargoReleaseWorkflow,
        input_model=Shipment,
        subject=lambda shipment: shipment.shipment_id,
    ),
)

BY_COMMAND = {process.command: process for process in PROCESSES}
