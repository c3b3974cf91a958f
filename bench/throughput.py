"""1. Orchestration overhead: completed runs per second on each process's automatic path.

Each process's sample that needs no person (the cargo release's clean shipment, KYC's low
risk application, support's question, the clean invoice) run two ways, in alternating rounds
in one run (so drift in the machine's load falls on both alike):

- Sluice with everything on: ``python worker.py`` (interceptor, tracing to the span file,
  audit trail, payload encryption, model queue, local steps), runs started by a traced,
  encrypting client with their domain search attribute, as the CLI starts them;
- bare Temporal (``bench/bare.py``): the same activities as ordinary activities, plain
  worker and client.

The cargo release is also run as a plain asyncio pipeline, with no durability at all. Each
round samples the CPU of the server, the worker and the driver; the last run of each
variant gives the history one run leaves; and one more cargo round of each Temporal variant
runs under py-spy to show where the worker's CPU goes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from google.protobuf.message import Message
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.invoice.models import Invoice
from bench.bare import BARE_INVOICE, BARE_KYC, BARE_SUPPORT, BARE_WORKFLOW
from bench.harness import (
    DRIVER,
    SERVER,
    CpuShare,
    Stack,
    asyncio_round,
    closed_loop,
    median,
    snapshot,
)
from bench.profile import Profile, Sampling
from sluice.codec import ENCODING as ENCRYPTED
from sluice.framework import Process
from sluice.search_attributes import DOMAIN
from workflows import cargo_release, invoice_approval, kyc_review, support_triage

SLUICE_QUEUE = "bench-sluice"
BARE_QUEUE = "bench-bare"
SLUICE_WORKER = "sluice"
BARE_WORKER = "bare"
# Issue 18: Sluice at least as fast as bare Temporal doing the same steps.
TARGET = 1.00
# Issue 18: a Sluice run's history at most this many times the size of a bare run's.
HISTORY_TARGET = 1.10

Temporal = Literal["sluice", "bare"]


# How many invoices ``new_invoice`` tells apart: 50 widget counts times 125 bolt counts.
DISTINCT_INVOICES = 6_250


def new_invoice(sample: Invoice, number: int) -> Invoice:
    """The clean sample invoice as the ``number``-th invoice of a stream of clean ones: its
    own invoice number and its own total, so the duplicate check (same number, or the same
    amount within 30 days) finds no earlier run's invoice, as it finds none for the sample.
    It bills fewer of the received goods than the sample: 100 down to 51 widgets at 12.50
    (one fewer every 125 invoices) and 500 down to 376 bolts at 0.40 (one fewer every
    invoice), so no two totals are equal and each is above the register's seeded invoice
    (620.00)."""
    if number >= DISTINCT_INVOICES:
        raise ValueError(f"invoice {number}: only {DISTINCT_INVOICES:,} distinct clean invoices")
    quantities = {"WIDGET-A": 100 - number // 125, "BOLT-M8": 500 - number % 125}
    lines = [
        {
            "item": line.item,
            "quantity": quantities[line.item],
            "unit_price": line.unit_price,
            "amount": quantities[line.item] * line.unit_price,
        }
        for line in sample.lines
    ]
    return Invoice.model_validate(
        {
            **sample.model_dump(),
            "invoice_number": f"{sample.invoice_number}-{number:05d}",
            "lines": lines,
            "total": sum(line["amount"] for line in lines),
        }
    )


@dataclass(frozen=True)
class AutomaticPath:
    """A process's path that needs no person: its sample, the bare workflow doing the same
    steps, the action both outcomes name when done, and its runs per round (a share of the
    cargo release's)."""

    process: Process[Any]
    sample: str
    bare_workflow: str
    action: str
    share: float = 1.0
    # A run's input, from the sample and the run's number among this path's runs on one
    # worker: the sample itself unless each run must be a new case.
    new_case: Callable[[Any, int], BaseModel] | None = None

    @property
    def example(self) -> str:
        """The sample, relative to the repository."""
        return f"examples/{self.process.examples.name}/{self.sample}"

    def inputs(self, first: int, runs: int) -> list[BaseModel]:
        text = (self.process.examples / self.sample).read_text(encoding="utf-8")
        sample = self.process.input_model.model_validate_json(text)
        if self.new_case is None:
            return [sample] * runs
        return [self.new_case(sample, first + n) for n in range(runs)]


CARGO = AutomaticPath(cargo_release.PROCESS, "clean.json", BARE_WORKFLOW, "released")
PATHS = {
    path.process.domain: path
    for path in (
        CARGO,
        AutomaticPath(kyc_review.PROCESS, "low_risk.json", BARE_KYC, "approved", share=0.5),
        AutomaticPath(support_triage.PROCESS, "question.json", BARE_SUPPORT, "replied", 0.5),
        AutomaticPath(
            invoice_approval.PROCESS, "clean.json", BARE_INVOICE, "paid", 0.5, new_invoice
        ),
    )
}


class Variant(BaseModel):
    """One way of running a process, over every measured round."""

    label: str
    runs_per_second: list[float]
    cpu_ms_per_run: dict[str, float]
    # None where no server ran (the asyncio pipeline).
    machine_busy_cores: list[float | None]

    @property
    def median(self) -> float:
        return median(self.runs_per_second)


class History(BaseModel):
    """What one completed run leaves in the server's history."""

    events: int
    bytes: int
    # Its bytes by what they carry (``HISTORY_PARTS``), summing to ``bytes``.
    parts: dict[str, int] = {}
    sealed_payloads: int = 0


# What a history's bytes carry: each payload by where it sits, with an encrypted payload's
# envelope (key id, nonce, tag, the sealed payload's own metadata) apart from what it seals;
# the rest is the events' own fields (ids, times, task queues, types, attempts).
PAYLOADS = "payloads: inputs, results, signals, outcome"
HEADERS = "headers: the trace context each task carries"
SUMMARIES = "step summaries (each activity's user metadata)"
SEARCH = "search attributes and memo"
ENVELOPE = "encryption envelope of the payloads above"
FIELDS = "the events' own fields (ids, times, queues, types)"
HISTORY_PARTS = (PAYLOADS, HEADERS, SUMMARIES, SEARCH, ENVELOPE, FIELDS)


class ProcessThroughput(BaseModel):
    """One process's automatic path: Sluice, bare Temporal (and, for the cargo release, the
    asyncio pipeline), each over every round, and the history one run of each leaves."""

    title: str
    example: str
    runs: int  # per round
    variants: dict[str, Variant]
    history: dict[str, History]

    @property
    def ratio(self) -> float:
        """Sluice's throughput as a share of bare Temporal's."""
        return self.variants["sluice"].median / self.variants["bare"].median

    @property
    def history_ratio(self) -> float:
        """A Sluice run's history size as a multiple of a bare run's."""
        return self.history["sluice"].bytes / self.history["bare"].bytes


class ThroughputResult(BaseModel):
    rounds: int
    concurrency: int
    processes: dict[str, ProcessThroughput]
    profiles: dict[str, Profile]
    profile_error: str | None = None
    target: float = TARGET
    history_target: float = HISTORY_TARGET

    @property
    def cargo(self) -> ProcessThroughput:
        return self.processes[CARGO.process.domain]

    @property
    def ratio(self) -> float:
        """Sluice's throughput as a share of bare Temporal's, on the cargo release."""
        return self.cargo.ratio

    @property
    def durability_ratio(self) -> float:
        """Bare Temporal's throughput as a share of the plain asyncio pipeline's."""
        return self.cargo.variants["bare"].median / self.cargo.variants["asyncio"].median

    @property
    def met(self) -> bool:
        return self.ratio >= self.target

    @property
    def history_met(self) -> bool:
        """Every process's Sluice history within the target multiple of bare's."""
        return all(p.history_ratio <= self.history_target for p in self.processes.values())


async def temporal_round(
    stack: Stack,
    path: AutomaticPath,
    variant: Temporal,
    task_queue: str,
    workers: list[str],
    runs: int,
    concurrency: int,
    first: int = 0,
) -> tuple[float, CpuShare, list[str]]:
    """Runs per second of one closed-loop round of ``path``, the CPU it took, and the run
    ids; ``first`` numbers the round's first run among the path's runs on these workers."""
    tag = f"{task_queue}-{uuid.uuid4().hex[:6]}"
    ids = [f"{tag}-{n:05d}" for n in range(runs)]
    client: Client = stack.sluice if variant == "sluice" else stack.bare
    workflow = path.process.workflow_type if variant == "sluice" else path.bare_workflow
    # Sluice runs are started as its CLI starts them: with their domain search attribute.
    domain = TypedSearchAttributes([SearchAttributePair(DOMAIN, path.process.domain)])
    start_options: dict[str, Any] = {"search_attributes": domain} if variant == "sluice" else {}
    inputs = path.inputs(first, runs)

    async def one(n: int) -> None:
        outcome: Any = await client.execute_workflow(
            workflow, inputs[n], id=ids[n], task_queue=task_queue, **start_options
        )
        action = outcome.get("action") if isinstance(outcome, dict) else outcome
        if action != path.action:
            raise RuntimeError(f"{ids[n]} ended {action!r}, not {path.action!r}: {outcome}")

    pids = stack.pids(*workers)
    before = snapshot(pids)
    seconds = await closed_loop(one, runs, concurrency)
    share = CpuShare.between(before, snapshot(pids))
    return runs / seconds, share, ids


def _per_run(share: CpuShare, runs: int, worker_names: list[str]) -> dict[str, float]:
    """CPU milliseconds per run: the workers together, the server and the driver."""
    per_run = share.cpu_ms_per_run(runs)
    return {
        "worker": sum(per_run[name] for name in worker_names),
        "server": per_run[SERVER],
        "driver": per_run[DRIVER],
    }


async def history_of(client: Client, workflow_id: str) -> History:
    """One run's history: its events and bytes, and what the bytes carry (encrypted
    payloads opened with the client's codec, to tell the envelope from what it seals)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    total = sum(event.ByteSize() for event in history.events)
    parts = dict.fromkeys(HISTORY_PARTS, 0)
    codec = client.data_converter.payload_codec
    sealed_payloads = 0
    for event in history.events:
        for where, payload in _payloads(event, PAYLOADS):
            size = payload.ByteSize()
            if codec is not None and payload.metadata.get("encoding") == ENCRYPTED:
                [sealed] = await codec.decode([payload])
                parts[ENVELOPE] += size - sealed.ByteSize()
                sealed_payloads += 1
                size = sealed.ByteSize()
            parts[where] += size
    parts[FIELDS] = total - sum(parts.values())
    return History(
        events=len(history.events), bytes=total, parts=parts, sealed_payloads=sealed_payloads
    )


# Where a payload sits, by the message that holds it.
_HOLDERS = {
    "Header": HEADERS,
    "UserMetadata": SUMMARIES,
    "SearchAttributes": SEARCH,
    "Memo": SEARCH,
}


def _payloads(message: Message, where: str) -> Iterator[tuple[str, Payload]]:
    """Every payload inside ``message``, with the part of a history it belongs to."""
    where = _HOLDERS.get(message.DESCRIPTOR.name, where)
    if isinstance(message, Payload):
        yield where, message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = [item for item in value.values() if isinstance(item, Message)]
        elif field.is_repeated:
            values = list(value)
        else:
            values = [value]
        for item in values:
            yield from _payloads(item, where)


LABELS = {
    "sluice": "Sluice, everything on",
    "bare": "bare Temporal",
    "asyncio": "plain asyncio, no durability",
}

Measured = tuple[float, dict[str, float], float | None]


async def run(stack: Stack, runs: int, rounds: int, concurrency: int) -> ThroughputResult:
    await stack.sluice_workers([SLUICE_WORKER], SLUICE_QUEUE)
    await stack.bare_worker(BARE_WORKER, BARE_QUEUE)
    queues: dict[Temporal, tuple[str, list[str]]] = {
        "sluice": (SLUICE_QUEUE, [SLUICE_WORKER]),
        "bare": (BARE_QUEUE, [BARE_WORKER]),
    }
    # Runs of each path per worker so far: an invoice must not be paid twice by one.
    started: Counter[tuple[str, str]] = Counter()

    async def measure(path: AutomaticPath, variant: Temporal, count: int) -> tuple[Measured, str]:
        queue, workers = queues[variant]
        key = (path.process.domain, variant)
        rate, share, ids = await temporal_round(
            stack, path, variant, queue, workers, count, concurrency, started[key]
        )
        started[key] += count
        return (rate, _per_run(share, count, workers), share.machine_busy_cores), ids[-1]

    # Warm up: imports, sandbox, SQLite files, server caches. Not measured.
    for path in PATHS.values():
        for variant in queues:
            await measure(path, variant, concurrency)
    await asyncio_round(stack.folder, concurrency, concurrency, "warm-up")

    per_round = {key: max(1, round(runs * path.share)) for key, path in PATHS.items()}
    measured: dict[str, dict[str, list[Measured]]] = {
        key: {name: [] for name in ("sluice", "bare", *(("asyncio",) if path is CARGO else ()))}
        for key, path in PATHS.items()
    }
    last_ids: dict[tuple[str, str], str] = {}
    for number in range(rounds):
        for key, path in PATHS.items():
            count = per_round[key]
            # Each round starts with a different variant, so none always goes first.
            order = list(measured[key])
            for name in order[number % len(order) :] + order[: number % len(order)]:
                if name == "asyncio":
                    outcome = await asyncio_round(
                        stack.folder, count, concurrency, f"asyncio-{number}-{uuid.uuid4().hex[:6]}"
                    )
                    cpu = {"worker": outcome["cpu_seconds"] * 1000 / count}
                    measured[key][name].append((count / outcome["seconds"], cpu, None))
                    continue
                temporal: Temporal = "sluice" if name == "sluice" else "bare"
                figures, last_ids[key, name] = await measure(path, temporal, count)
                measured[key][name].append(figures)

    profiles: dict[str, Profile] = {}
    profile_error = None
    try:
        for variant, (queue, workers) in queues.items():
            sampling = Sampling(stack.pids(*workers)[workers[0]], stack.folder / f"{variant}.pyspy")
            await sampling.start()
            await temporal_round(stack, CARGO, variant, queue, workers, runs, concurrency)
            profiles[variant] = await sampling.stop(workers[0])
    except (RuntimeError, OSError, TimeoutError) as err:
        # No py-spy, or no permission to attach (ptrace): the figures stand without it.
        profile_error = str(err)

    processes = {}
    for key, path in PATHS.items():
        processes[key] = ProcessThroughput(
            title=path.process.title,
            example=path.example,
            runs=per_round[key],
            variants={
                name: Variant(
                    label=LABELS[name],
                    runs_per_second=[rate for rate, _, _ in values],
                    cpu_ms_per_run={
                        part: median([cpu[part] for _, cpu, _ in values]) for part in values[0][1]
                    },
                    machine_busy_cores=[busy for _, _, busy in values],
                )
                for name, values in measured[key].items()
            },
            history={
                "sluice": await history_of(stack.sluice, last_ids[key, "sluice"]),
                "bare": await history_of(stack.bare, last_ids[key, "bare"]),
            },
        )
    return ThroughputResult(
        rounds=rounds,
        concurrency=concurrency,
        processes=processes,
        profiles=profiles,
        profile_error=profile_error,
    )
