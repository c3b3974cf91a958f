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
from activities.kyc.models import KycApplication
from activities.support.models import Ticket
from workflows.cargo_release import CargoReleaseWorkflow
from workflows.human_input import ProvidedInput
from workflows.kyc_review import DocumentDelivery, KycReviewWorkflow
from workflows.support_triage import SupportTriageWorkflow


@dataclass(frozen=True)
class Process:
    """One business process as the CLI and worker see it."""

    command: str
    domain: str
    title: str
    workflow: type
    input_model: type[BaseModel]
    subject: Callable[[Any], str]
    # What a person may send to a run waiting for input (``starter.py provide``), if anything.
    provided_input: type[ProvidedInput] | None = None

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
    Process(
        command="kyc-review",
        domain="kyc_review",
        title="KYC review",
        workflow=KycReviewWorkflow,
        input_model=KycApplication,
        subject=lambda application: application.application_id,
        provided_input=DocumentDelivery,
    ),
    Process(
        command="support-triage",
        domain="support_triage",
        title="Support triage",
        workflow=SupportTriageWorkflow,
        input_model=Ticket,
        subject=lambda ticket: ticket.ticket_id,
    ),
)

BY_COMMAND = {process.command: process for process in PROCESSES}
