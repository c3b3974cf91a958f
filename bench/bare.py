"""The alternatives Sluice is measured against, doing the same connector work.

Bare Temporal: each process's automatic path written as plain Temporal code, on one task queue,
with no interceptor, no codec, no audit trail, no search attributes and no tracing. Each runs
the activities its Sluice workflow runs on that path, in the same order and with the same
concurrency, as ordinary activities (a timeout and the SDK's default retries), bound to the
same embedded systems of record under the same configuration as Sluice's worker:

- ``BareCargoRelease`` (``examples/cargo_release/clean.json``): approval policy, the four
  document readings at once, cross-check, screening, release at the terminal, two notices
  (and, for the approval benchmarks, a wait for an officer when something was found);
- ``BareKycReview`` (``examples/kyc_review/low_risk.json``): approval policy, for both
  documents at once their transcription and reading, the document checks, screening, the
  notice to the onboarding desk;
- ``BareSupportTriage`` (``examples/support_triage/question.json``): approval policy, the
  authority ladder, the ticket check, classification, routing (and paging on-call for an
  urgent ticket), the customer's history, the draft, the reply check, the reply;
- ``BareInvoiceApproval`` (``examples/invoice_approval/clean.json``): approval policy, the
  three-way match, the duplicate check, the bank account, the payment authority, the
  payment, the remittance notice.

Each returns the action its Sluice run's outcome names (released, approved, replied, paid),
or ``needs a person`` where the Sluice run would ask one: only the automatic path is written
out, and the benchmark fails a run that leaves it.

``asyncio_pipeline``: the cargo release's steps as a plain asyncio pipeline, with no
durability.

    python -m bench.bare worker --address 127.0.0.1:7233 --task-queue bare --data-dir D \
        --config sluice.toml
    python -m bench.bare asyncio --runs 200 --concurrency 32 --data-dir D --shipment S
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

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
    from activities.connectors.crm import CrmActivities, CustomerLookup
    from activities.connectors.sanctions import sanctions_list_from_config
    from activities.connectors.supplier_payments import (
        PaymentInstruction,
        SupplierPaymentActivities,
    )
    from activities.connectors.terminal import (
        Terminal,
        TerminalActivities,
        TerminalOrder,
        TerminalReceipt,
    )
    from activities.connectors.ticketing import (
        QueueAssignment,
        TicketingActivities,
        TicketReply,
    )
    from activities.invoice.checks import InvoiceCheckActivities
    from activities.invoice.models import DuplicateCheck, Invoice
    from activities.kyc import models as kyc
    from activities.kyc.documents import KycDocumentActivities
    from activities.kyc.rules import KycRuleActivities
    from activities.model_gateway import ModelGateway
    from activities.screening import ScreeningActivities, ScreeningRequest
    from activities.support.classification import TicketClassificationActivities
    from activities.support.drafting import ReplyDraftingActivities
    from activities.support.guards import TextGuardActivities
    from activities.support.ladder import SupportLadderActivities
    from activities.support.models import DraftRequest, GuardContext, TextGuardRequest, Ticket
    from sluice.framework.notifications import (
        Notification,
        NotificationActivities,
        Notifier,
    )
    from sluice.framework.policy import ApprovalPolicy, ApprovalPolicyActivities

    # The processes' own request builders and rules, so both variants do the same work.
    from workflows.invoice_approval import remittance_notice
    from workflows.kyc_review import names_to_screen, screening_evidence
    from workflows.support_ladder import (
        LadderFacts,
        pages_on_call,
        queue_for,
        refund_offer,
        required_authority,
    )

BARE_WORKFLOW = "BareCargoRelease"
BARE_KYC = "BareKycReview"
BARE_SUPPORT = "BareSupportTriage"
BARE_INVOICE = "BareInvoiceApproval"
# What a plain Temporal user writes once per call: a timeout, the SDK's default retries.
STEP_TIMEOUT = timedelta(seconds=30)
# The action of a bare run that reached a point where its Sluice run asks a person.
NEEDS_PERSON = "needs a person"

R = TypeVar("R")


async def step(activity: Callable[..., Awaitable[R]], arg: Any) -> R:
    """One activity as a plain Temporal user calls it: an ordinary activity on the
    workflow's task queue, with a timeout and the SDK's default retries."""
    result: R = await workflow.execute_activity(activity, arg, start_to_close_timeout=STEP_TIMEOUT)
    return result


async def approval_policy(domain: str) -> ApprovalPolicy:
    policy: ApprovalPolicy = await step(ApprovalPolicyActivities.load_approval_policy, domain)
    return policy


class BareOutcome(BaseModel):
    """How a bare run ended: the action its Sluice run's outcome names on the same path, and
    the reference the system of record gave the business action (none when not taken)."""

    action: str
    reference: str | None = None


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
    async def run(self, shipment: Shipment) -> BareOutcome:
        run_id = workflow.info().workflow_id
        await approval_policy("cargo_release")
        extracted: list[ExtractedDocument] = list(
            await asyncio.gather(
                *(
                    step(
                        CargoDocumentActivities.extract_document,
                        ExtractionRequest(shipment_id=shipment.shipment_id, document=document),
                    )
                    for document in shipment.documents
                )
            )
        )
        findings = await step(
            CargoRuleActivities.cross_check_documents,
            CrossCheckRequest(shipment=shipment, extracted=extracted),
        )
        screening = await step(
            ScreeningActivities.screen_names,
            ScreeningRequest(names=shipment.parties(), kind="organization"),
        )
        if findings.hits or screening.hits:
            self.is_waiting = True
            await workflow.wait_condition(lambda: self.approved_by is not None)
            self.is_waiting = False
        receipt: TerminalReceipt = await step(
            TerminalActivities.release_cargo, release_order(shipment, run_id, self.approved_by)
        )
        for notice in notices(shipment, run_id):
            await step(NotificationActivities.send_notification, notice)
        return BareOutcome(action="released", reference=receipt.reference)


@workflow.defn(name=BARE_KYC)
class BareKycReview:
    """Read both documents, check them, screen the applicant, approve a low risk, notify."""

    @workflow.run
    async def run(self, application: kyc.KycApplication) -> BareOutcome:
        run_id = workflow.info().workflow_id
        policy = await approval_policy("kyc_review")
        read = await asyncio.gather(
            *(read_kyc_document(application.application_id, doc) for doc in application.documents)
        )
        by_kind = {doc.kind: doc for doc in read if doc is not None}
        if None in read or set(by_kind) != set(kyc.REQUIRED_DOCUMENTS):
            return BareOutcome(action=NEEDS_PERSON)
        documents = [by_kind[kind] for kind in kyc.REQUIRED_DOCUMENTS]
        findings = await step(
            KycRuleActivities.check_documents,
            kyc.KycCheckRequest(
                applicant=application.applicant, documents=documents, as_of=workflow.now().date()
            ),
        )
        screening = await step(
            ScreeningActivities.screen_names,
            ScreeningRequest(
                names=names_to_screen(application, documents),
                kind="person",
                evidence=screening_evidence(application),
            ),
        )
        if findings.hits or screening.hits or not policy.auto_approve_low_risk:
            return BareOutcome(action=NEEDS_PERSON)
        notice = await step(
            NotificationActivities.send_notification,
            Notification(
                recipient=application.requested_by,
                channel="onboarding",
                subject=f"KYC application {application.application_id}: approved",
                body=f"Application {application.application_id} was approved (risk low). "
                f"The decision record: run {run_id}",
                idempotency_key=f"{run_id}:notify-outcome",
            ),
        )
        return BareOutcome(action="approved", reference=notice.reference)


async def read_kyc_document(
    application_id: str, document: kyc.KycDocument
) -> kyc.ExtractedKycDocument | None:
    """What was read from one document (transcribed first unless given as text), or None."""
    if document.text is not None:
        text = kyc.DocumentText(
            kind=document.kind, text=document.text, document_sha256=document.sha256(), source="text"
        )
    else:
        text = await step(
            KycDocumentActivities.transcribe_document,
            kyc.TranscriptionRequest(application_id=application_id, document=document),
        )
    extracted: kyc.ExtractedKycDocument = await step(
        KycDocumentActivities.extract_document,
        kyc.ExtractionRequest(
            application_id=application_id,
            kind=document.kind,
            text=text.text,
            document_sha256=text.document_sha256,
        ),
    )
    return None if extracted.unreadable_because() else extracted


@workflow.defn(name=BARE_SUPPORT)
class BareSupportTriage:
    """Check, classify, route, look the customer up, draft, check the reply, send it."""

    @workflow.run
    async def run(self, ticket: Ticket) -> BareOutcome:
        run_id = workflow.info().workflow_id
        await approval_policy("support_triage")
        ladder = await step(SupportLadderActivities.load_support_ladder, "support_triage")
        ticket_check = await step(
            TextGuardActivities.check_text,
            TextGuardRequest(
                target="ticket",
                text=ticket.body,
                subject=ticket.subject,
                context=GuardContext(customer_id=ticket.customer_id, order_id=ticket.order_id),
            ),
        )
        if ticket.customer_id is None or any(hit.hands_over for hit in ticket_check.hits):
            return BareOutcome(action=NEEDS_PERSON)
        classified = await step(TicketClassificationActivities.classify_ticket, ticket)
        triage = classified.classification
        guard_hits = [hit.rule for hit in ticket_check.hits]
        await step(
            TicketingActivities.route_ticket,
            QueueAssignment(
                ticket_id=ticket.ticket_id,
                queue=queue_for(ladder, triage, guard_hits),
                reason=f"{triage.category.value}, urgency {triage.urgency.value}",
                idempotency_key=f"{run_id}:route",
            ),
        )
        if pages_on_call(ladder, triage, guard_hits):
            await step(
                NotificationActivities.send_notification,
                Notification(
                    recipient=ladder.on_call_contact,
                    channel="page",
                    subject=f"Urgent ticket {ticket.ticket_id}: {triage.category.value}",
                    body=f"Ticket {ticket.ticket_id}; run {run_id}.",
                    idempotency_key=f"{run_id}:page-on-call",
                ),
            )
        history = await step(
            CrmActivities.look_up_customer,
            CustomerLookup(customer_id=ticket.customer_id, order_id=ticket.order_id),
        )
        refund = refund_offer(triage, history)
        drafted = await step(
            ReplyDraftingActivities.draft_reply,
            DraftRequest(ticket=ticket, classification=triage, history=history, refund=refund),
        )
        reply_check = await step(
            TextGuardActivities.check_text,
            TextGuardRequest(
                target="reply",
                text=drafted.draft.body,
                context=GuardContext(
                    customer_email=history.email,
                    language=triage.language,
                    stated_language=drafted.draft.language,
                ),
            ),
        )
        authority = required_authority(
            ladder,
            LadderFacts(
                classification=triage,
                ticket_guard_hits=guard_hits,
                reply_guard_hits=[hit.rule for hit in reply_check.hits],
                customer_known=history.known,
                lifetime_spend=history.lifetime_spend,
                refund=refund,
            ),
        )
        # A refund is never on the automatic path: the ladder gives it to an agent.
        if refund or not (authority.automatic or authority.decision_kind is None):
            return BareOutcome(action=NEEDS_PERSON)
        sent = await step(
            TicketingActivities.send_ticket_reply,
            TicketReply(
                ticket_id=ticket.ticket_id,
                customer_id=history.customer_id,
                language=drafted.draft.language,
                body=drafted.draft.body,
                idempotency_key=f"{run_id}:reply",
                approved_by=["auto-reply"],
            ),
        )
        return BareOutcome(action="replied", reference=sent.reference)


@workflow.defn(name=BARE_INVOICE)
class BareInvoiceApproval:
    """Match, look for duplicates, check the account and the authority, pay, tell the supplier."""

    @workflow.run
    async def run(self, invoice: Invoice) -> BareOutcome:
        run_id = workflow.info().workflow_id
        await approval_policy("invoice_approval")
        match = await step(InvoiceCheckActivities.match_invoice, invoice)
        duplicates = await step(
            InvoiceCheckActivities.check_duplicate_invoice,
            DuplicateCheck(invoice=invoice, idempotency_key=f"{run_id}:register"),
        )
        account = await step(InvoiceCheckActivities.check_supplier_bank_account, invoice)
        authority = await step(InvoiceCheckActivities.invoice_payment_authority, invoice)
        found = [*match.hits, *duplicates.hits, *account.hits, *authority.hits]
        if found or authority.approvals_required or account.account_on_file is None:
            return BareOutcome(action=NEEDS_PERSON)
        receipt = await step(
            SupplierPaymentActivities.instruct_supplier_payment,
            PaymentInstruction(
                supplier_id=invoice.supplier_id,
                invoice_reference=invoice.reference,
                amount=invoice.total,
                currency=invoice.currency,
                iban=account.account_on_file,
                idempotency_key=f"{run_id}:pay",
                authorised_by=["auto-payment"],
            ),
        )
        subject, body = remittance_notice(invoice, receipt)
        await step(
            NotificationActivities.send_notification,
            Notification(
                recipient=f"supplier:{invoice.supplier_id}",
                channel="supplier-notice",
                subject=subject,
                body=body,
                idempotency_key=f"{run_id}:remittance",
            ),
        )
        return BareOutcome(action="paid", reference=receipt.reference)


BARE_WORKFLOWS = [BareCargoRelease, BareKycReview, BareSupportTriage, BareInvoiceApproval]


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
    """The connectors and activity objects the asyncio pipeline uses, built as Sluice's worker
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


async def serve_worker(address: str, task_queue: str, data_dir: Path, config: Path) -> None:
    """A plain worker: pydantic JSON payloads (no codec), no interceptor, no tracing. Its
    activities are Sluice's own, built from the same configuration file as Sluice's worker
    (approval policies, document intake, process sections), each bound to its embedded
    system of record under ``data_dir``; nothing is read from the shell's environment."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    # Imported here, not with the module: the workflow sandbox re-imports this module for
    # every run, and the plugin pulls in every Sluice workflow.
    from sluice.app.plugin import build_activities
    from sluice.config import load_settings

    settings = load_settings(
        config, {"SLUICE_DATA_DIR": str(data_dir), "SLUICE_MODEL_PROVIDER": "offline"}
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=BARE_WORKFLOWS,
        activities=list(build_activities(settings).values()),
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
    worker.add_argument("--config", type=Path, required=True, help="the workers' sluice.toml")
    pipeline = commands.add_parser("asyncio", help="run the plain asyncio pipeline once")
    pipeline.add_argument("--runs", type=int, required=True)
    pipeline.add_argument("--concurrency", type=int, required=True)
    pipeline.add_argument("--data-dir", type=Path, required=True)
    pipeline.add_argument("--shipment", type=Path, required=True)
    pipeline.add_argument("--prefix", default="asyncio")
    args = parser.parse_args(argv)
    if args.command == "worker":
        asyncio.run(serve_worker(args.address, args.task_queue, args.data_dir, args.config))
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
