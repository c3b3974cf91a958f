"""The alternatives Sluice is measured against, doing the same connector work.

- ``BareCargoRelease``: the cargo release written as plain Temporal code. The same ten
  activities (approval policy, four document readings with the offline model, cross-check,
  screening, release at the terminal, two notices) bound to the same embedded systems of
  record, on one task queue, with no interceptor, no codec, no audit trail, no search
  attributes and no tracing.
- ``asyncio_pipeline``: the same steps as a plain asyncio pipeline, with no durability.

    python -m bench.bare worker --address 127.0.0.1:7233 --task-queue bare --data-dir D
    python -m bench.bare asyncio --runs 200 --concurrency 32 --data-dir D
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cargo.extraction import CargoDocumentActivities
    from activities.cargo.models import (
        CrossCheckRequest,
        ExtractedDocument,
        ExtractionRequest,
        Shipment,
    )
    from activities.cargo.rules import CargoRuleActivities
    from activities.connectors.sanctions import sanctions_list_from_config
    from activities.connectors.terminal import (
        Terminal,
        TerminalActivities,
        TerminalOrder,
        TerminalReceipt,
    )
    from activities.model_gateway import ModelGateway
    from activities.screening import ScreeningActivities, ScreeningRequest
    from sluice.framework.notifications import (
        Notification,
        NotificationActivities,
        Notifier,
    )
    from sluice.framework.policy import ApprovalPolicyActivities

BARE_WORKFLOW = "BareCargoRelease"
# What a plain Temporal user writes once per call: a timeout, the SDK's default retries.
STEP_TIMEOUT = timedelta(seconds=30)


class BareApproval(BaseModel):
    """The ``approve`` signal of the bare workflow."""

    reviewer: str


@workflow.defn(name=BARE_WORKFLOW)
class BareCargoRelease:
    """Read, check, screen, wait for an officer when something was found, release, notify."""

    def __init__(self) -> None:
        self.approved_by: str | None = None
        self.is_waiting = False

    @workflow.signal(name="approve")
    def approve(self, approval: BareApproval) -> None:
        self.approved_by = approval.reviewer

    @workflow.query(name="waiting")
    def waiting(self) -> bool:
        return self.is_waiting

    @workflow.run
    async def run(self, shipment: Shipment) -> str:
        run_id = workflow.info().workflow_id
        await workflow.execute_activity_method(
            ApprovalPolicyActivities.load_approval_policy,
            "cargo_release",
            start_to_close_timeout=STEP_TIMEOUT,
        )
        extracted: list[ExtractedDocument] = list(
            await asyncio.gather(
                *(
                    workflow.execute_activity_method(
                        CargoDocumentActivities.extract_document,
                        ExtractionRequest(shipment_id=shipment.shipment_id, document=document),
                        start_to_close_timeout=STEP_TIMEOUT,
                    )
                    for document in shipment.documents
                )
            )
        )
        findings = await workflow.execute_activity_method(
            CargoRuleActivities.cross_check_documents,
            CrossCheckRequest(shipment=shipment, extracted=extracted),
            start_to_close_timeout=STEP_TIMEOUT,
        )
        screening = await workflow.execute_activity_method(
            ScreeningActivities.screen_names,
            ScreeningRequest(names=shipment.parties(), kind="organization"),
            start_to_close_timeout=STEP_TIMEOUT,
        )
        if findings.hits or screening.hits:
            self.is_waiting = True
            await workflow.wait_condition(lambda: self.approved_by is not None)
            self.is_waiting = False
        receipt: TerminalReceipt = await workflow.execute_activity_method(
            TerminalActivities.release_cargo,
            release_order(shipment, run_id, self.approved_by),
            start_to_close_timeout=STEP_TIMEOUT,
        )
        for notice in notices(shipment, run_id):
            await workflow.execute_activity_method(
                NotificationActivities.send_notification,
                notice,
                start_to_close_timeout=STEP_TIMEOUT,
            )
        return receipt.reference


def release_order(shipment: Shipment, run_id: str, approved_by: str | None) -> TerminalOrder:
    return TerminalOrder(
        shipment_id=shipment.shipment_id,
        action="release",
        idempotency_key=f"{run_id}:release",
        reason="approved" if approved_by else "documents consistent",
        authorised_by=[approved_by or "auto-release"],
    )


def notices(shipment: Shipment, run_id: str) -> list[Notification]:
    """The consignee's notice, and the notify party's when there is one."""
    recipients = [("consignee", shipment.consignee_contact)]
    if shipment.notify_party:
        recipients.append(("notify-party", shipment.notify_party))
    return [
        Notification(
            recipient=recipient,
            subject=f"Shipment {shipment.shipment_id}: cargo released",
            body=f"Shipment {shipment.shipment_id} has been released for collection at "
            f"{shipment.port_of_discharge}.",
            idempotency_key=f"{run_id}:notify-{role}",
        )
        for role, recipient in recipients
    ]


class CargoDesk:
    """The connectors and activity objects the cargo release uses, built as Sluice's worker
    builds them (embedded SQLite terminal and outbox, shipped sanctions list, offline model)."""

    def __init__(self, data_dir: Path) -> None:
        # Imported here, not with the module: the workflow sandbox re-imports this module
        # for every run, and the wiring pulls in every Sluice workflow.
        from activities.cargo.factory import terminal_from
        from activities.cargo.models import CargoSettings
        from activities.shared import notifier_from
        from sluice.app.wiring import every_offline_rule, offline_rules
        from sluice.config import Settings
        from sluice.framework import Services

        settings = Settings(data_dir=data_dir)
        services = Services(settings, every_offline_rule())
        self.policies = ApprovalPolicyActivities(settings)
        self.documents = CargoDocumentActivities(
            ModelGateway(offline_rules(), prices=settings.model.prices)
        )
        self.rules = CargoRuleActivities(settings.section("cargo", CargoSettings))
        self.screening = ScreeningActivities(
            sanctions_list_from_config(None, None, None), settings.connectors.sanctions_threshold
        )
        self.terminal: Terminal = terminal_from(services)
        self.notifier: Notifier = notifier_from(services)

    def activities(self) -> list[Any]:
        return [
            self.policies.load_approval_policy,
            self.documents.extract_document,
            self.rules.cross_check_documents,
            self.screening.screen_names,
            TerminalActivities(self.terminal).release_cargo,
            NotificationActivities(self.notifier).send_notification,
        ]

    async def release(self, shipment: Shipment, run_id: str) -> str:
        """One run of the pipeline in plain asyncio: the same steps, nothing durable."""
        await self.policies.load_approval_policy("cargo_release")
        extracted = list(
            await asyncio.gather(
                *(
                    self.documents.extract_document(
                        ExtractionRequest(shipment_id=shipment.shipment_id, document=document)
                    )
                    for document in shipment.documents
                )
            )
        )
        findings = await self.rules.cross_check_documents(
            CrossCheckRequest(shipment=shipment, extracted=extracted)
        )
        screening = await self.screening.screen_names(
            ScreeningRequest(names=shipment.parties(), kind="organization")
        )
        if findings.hits or screening.hits:
            raise ValueError(f"{run_id}: the asyncio pipeline only takes clean shipments")
        receipt = await self.terminal.instruct(release_order(shipment, run_id, None))
        for notice in notices(shipment, run_id):
            await self.notifier.send(notice)
        return receipt.reference


async def asyncio_pipeline(
    desk: CargoDesk, shipment: Shipment, runs: int, concurrency: int, prefix: str
) -> tuple[float, float]:
    """Wall and CPU seconds to release ``runs`` shipments with ``concurrency`` in flight."""
    limit = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with limit:
            await desk.release(shipment, f"{prefix}-{n:06d}")

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(n) for n in range(runs)))
    return time.perf_counter() - started, time.process_time() - cpu


async def serve_worker(address: str, task_queue: str, data_dir: Path) -> None:
    """A plain worker: pydantic JSON payloads (no codec), no interceptor, no tracing."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    desk = CargoDesk(data_dir)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BareCargoRelease],
        activities=desk.activities(),
    ):
        print(f"worker polling task queue '{task_queue}'", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run the bare Temporal worker")
    worker.add_argument("--address", required=True)
    worker.add_argument("--task-queue", required=True)
    worker.add_argument("--data-dir", type=Path, required=True)
    pipeline = commands.add_parser("asyncio", help="run the plain asyncio pipeline once")
    pipeline.add_argument("--runs", type=int, required=True)
    pipeline.add_argument("--concurrency", type=int, required=True)
    pipeline.add_argument("--data-dir", type=Path, required=True)
    pipeline.add_argument("--shipment", type=Path, required=True)
    pipeline.add_argument("--prefix", default="asyncio")
    args = parser.parse_args(argv)
    if args.command == "worker":
        asyncio.run(serve_worker(args.address, args.task_queue, args.data_dir))
        return 0
    shipment = Shipment.model_validate_json(args.shipment.read_text(encoding="utf-8"))
    desk = CargoDesk(args.data_dir)
    seconds, cpu_seconds = asyncio.run(
        asyncio_pipeline(desk, shipment, args.runs, args.concurrency, args.prefix)
    )
    print(json.dumps({"runs": args.runs, "seconds": seconds, "cpu_seconds": cpu_seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
