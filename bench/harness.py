"""What every benchmark runs on: the embedded dev server and worker processes (started as
the fault suite starts them), the clients that drive them, and the CPU and memory each
process uses, read from ``/proc``.

Workers run as their own processes so that CPU and resident memory can be told apart per
process: the driver (this process), the Temporal server and each worker.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.cargo.models import Shipment
from bench.traced_worker import SNAPSHOTS
from sluice.binaries import temporal_cli
from sluice.client import connect
from sluice.codec import codec_from_settings, create_key_file
from sluice.config import Settings
from sluice.framework.approval import PendingDecision
from sluice.reviewers import ensure_sample_reviewers
from sluice.signing import as_signal, signed_decision
from sluice.telemetry import install_telemetry
from tests.faults.processes import ROOT, DevServer, Killable, WorkerProcess

EXAMPLES = ROOT / "examples" / "cargo_release"
CLEAN = EXAMPLES / "clean.json"
ANOMALY = EXAMPLES / "anomaly.json"
# Where the KYC samples' documents are read from (their paths are relative to it).
INTAKE = ROOT / "examples" / "kyc_review" / "intake"
SLUICE_WORKFLOW = "CargoReleaseWorkflow"
REVIEWER = "alice"
_TICKS = os.sysconf("SC_CLK_TCK")
DRIVER = "driver"
SERVER = "server"

# Connector and provider variables blanked for every worker: the embedded defaults and the
# offline provider, whatever the shell running the benchmark has set.
_DEFAULTS_ONLY = {
    "SLUICE_TERMINAL_URL": "",
    "SLUICE_NOTIFICATIONS_URL": "",
    "SLUICE_SANCTIONS_URL": "",
    "SLUICE_SANCTIONS_LIST": "",
    "SLUICE_CRM_URL": "",
    "SLUICE_TICKETING_URL": "",
    "SLUICE_PAYMENTS_URL": "",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    "MISTRAL_API_KEY": "",
    "MISTRAL_SERVER_URL": "",
    "SLUICE_MODEL_PROVIDER": "offline",
    "SLUICE_CODEC_DISABLED": "",
    "PYTHONUNBUFFERED": "1",
}


def shipment(path: Path) -> Shipment:
    return Shipment.model_validate_json(path.read_text(encoding="utf-8"))


# --- CPU and memory, per process ---------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of a process now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores together."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICKS, sum(values) / _TICKS


@dataclass(frozen=True)
class Snapshot:
    """CPU used so far by named processes and by the whole machine, at one moment."""

    at: float
    cpu: dict[str, float]
    machine_busy: float
    machine_total: float


def snapshot(pids: Mapping[str, int]) -> Snapshot:
    busy, total = machine_cpu()
    return Snapshot(
        at=time.monotonic(),
        cpu={name: cpu_seconds(pid) for name, pid in pids.items()},
        machine_busy=busy,
        machine_total=total,
    )


class CpuShare(BaseModel):
    """CPU used over a measured stretch, in cores (1.0 = one core busy all the time)."""

    seconds: float
    cores: dict[str, float]
    machine_busy_cores: float

    @classmethod
    def between(cls, before: Snapshot, after: Snapshot) -> CpuShare:
        wall = max(after.at - before.at, 1e-9)
        cores_total = os.cpu_count() or 1
        machine_share = (after.machine_busy - before.machine_busy) / max(
            after.machine_total - before.machine_total, 1e-9
        )
        return cls(
            seconds=wall,
            cores={name: (after.cpu[name] - before.cpu[name]) / wall for name in before.cpu},
            machine_busy_cores=machine_share * cores_total,
        )

    def cpu_ms_per_run(self, runs: int) -> dict[str, float]:
        return {
            name: cores * self.seconds * 1000 / max(runs, 1) for name, cores in self.cores.items()
        }


# --- the machine -------------------------------------------------------------------------


class Machine(BaseModel):
    """What the figures were measured on."""

    cpu_model: str
    cores: int
    memory_gib: float
    system: str
    python: str
    temporalio: str
    temporal_cli: str
    load_average_at_start: tuple[float, float, float]
    started_at: datetime

    @classmethod
    def describe(cls) -> Machine:
        cpu_model = "unknown"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
        memory_kib = 0
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
        cli = subprocess.run(
            [temporal_cli(), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        return cls(
            cpu_model=cpu_model,
            cores=os.cpu_count() or 1,
            memory_gib=round(memory_kib / 1024 / 1024, 1),
            system=f"{platform.system()} {platform.release()}",
            python=platform.python_version(),
            temporalio=metadata.version("temporalio"),
            temporal_cli=cli.removeprefix("temporal version "),
            load_average_at_start=os.getloadavg(),
            started_at=datetime.now(UTC),
        )


# --- processes -----------------------------------------------------------------------------


class BareWorkerProcess(Killable):
    """``python -m bench.bare worker``: plain Temporal, no Sluice layer."""

    def __init__(
        self, name: str, log: Path, address: str, task_queue: str, data_dir: Path, config: Path
    ) -> None:
        super().__init__(name, log)
        self.arguments = [
            "--address", address, "--task-queue", task_queue, "--data-dir", str(data_dir),
            "--config", str(config),
        ]  # fmt: skip

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.bare", "worker", *self.arguments]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1"}


class Traced(Killable):
    """A worker process started under ``bench.traced_worker``: the same command and
    environment, its Python heap traced, a snapshot written on each :meth:`snapshot`."""

    def __init__(self, worker: Killable, snapshots: Path) -> None:
        super().__init__(worker.name, worker.log)
        self.worker = worker
        self.prefix = snapshots / worker.name
        self.taken = 0

    def command(self) -> list[str]:
        python, *arguments = self.worker.command()
        return [python, "-m", "bench.traced_worker", *arguments]

    def environment(self) -> dict[str, str]:
        return {**self.worker.environment(), SNAPSHOTS: str(self.prefix)}

    async def snapshot(self, seconds: float = 300) -> Path:
        """Ask for a snapshot and wait until it is written; the path without its suffix."""
        self.taken += 1
        os.kill(pid_of(self), signal.SIGUSR1)
        written = Path(f"{self.prefix}-{self.taken}")
        deadline = time.monotonic() + seconds
        while not written.with_suffix(".json").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} wrote no snapshot in {seconds}s")
            await asyncio.sleep(0.2)
        return written


def worker_config(
    path: Path, registry: Path, requests_per_minute: float | None = None, workers: int = 1
) -> Path:
    """The workers' sluice.toml, read by Sluice's and the bare workers alike: reviewers for
    the cargo desk, an SLA no benchmark reaches, the one reviewer registry, KYC's low risk
    approved without a person (the policy's choice: the sample configuration leaves it to a
    reviewer, the benchmarks measure the automatic path), the sample documents' intake
    folder, and the model request limit for the rate-limit benchmark. The other processes
    keep their sections' defaults (those of the sample configuration)."""
    lines = [
        "[approvals]",
        f"registry_file = {json.dumps(str(registry))}",
        "",
        "[approvals.cargo_release]",
        f'reviewers = {{ "*" = ["{REVIEWER}", "bob"] }}',
        "sla_minutes = 600",
        "final_timeout_minutes = 1440",
        "",
        "[approvals.kyc_review]",
        f'reviewers = {{ "kyc_approval" = ["{REVIEWER}", "bob"] }}',
        "auto_approve_low_risk = true",
        "",
        "[documents]",
        f"intake_dir = {json.dumps(str(INTAKE))}",
    ]
    if requests_per_minute is not None:
        lines += [
            "",
            "[model.limits]",
            f"requests_per_minute = {requests_per_minute}",
            f"workers = {workers}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


class EmbeddedServer(DevServer):
    """The dev server on its SQLite file, optionally with another SQLite journal mode."""

    def __init__(self, database: Path, log: Path, journal_mode: str | None) -> None:
        super().__init__(database, log)
        self.journal_mode = journal_mode

    def command(self) -> list[str]:
        pragma = ["--sqlite-pragma", f"journal_mode={self.journal_mode}"]
        return [*super().command(), *(pragma if self.journal_mode else [])]


class Stack:
    """The dev server, the worker processes and the two clients of one benchmark run.

    ``journal_mode=None`` keeps the SQLite journal the embedded server uses by default."""

    def __init__(self, folder: Path, journal_mode: str | None = "wal") -> None:
        self.folder = folder
        self.server = EmbeddedServer(
            folder / "temporal.sqlite", folder / "server.log", journal_mode
        )
        self.keys_file = folder / "codec" / "keys.json"
        # One reviewer registry for every worker; the driver signs with the sample keys.
        self.registry_file = folder / "reviewers.json"
        self.signing = Settings(data_dir=folder / "driver")
        self.signing.signatures.registry_file = self.registry_file
        self.workers: dict[str, Killable] = {}
        self._sluice: Client | None = None
        self._bare: Client | None = None

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        create_key_file(self.keys_file)
        ensure_sample_reviewers(self.signing.data_dir, self.registry_file, [REVIEWER, "bob"])
        await asyncio.to_thread(self.server.start)
        settings = Settings(data_dir=self.folder / "driver")
        settings.temporal.address = self.server.address
        settings.codec.keys_file = self.keys_file
        settings.telemetry.spans_file = self.folder / "traces" / "driver.jsonl"
        # The driver starts runs as starter.py does: payloads encrypted, traces begun here.
        telemetry = install_telemetry(settings, "sluice-bench")
        client = await connect(settings.temporal, codec=codec_from_settings(settings))
        self._sluice = telemetry.traced(client)
        self._bare = await Client.connect(
            self.server.address, data_converter=pydantic_data_converter
        )

    @property
    def sluice(self) -> Client:
        assert self._sluice is not None, "Stack.start() first"
        return self._sluice

    @property
    def bare(self) -> Client:
        assert self._bare is not None, "Stack.start() first"
        return self._bare

    def sluice_env(
        self, task_queue: str, config: Path, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        return {
            **_DEFAULTS_ONLY,
            "TEMPORAL_ADDRESS": self.server.address,
            "SLUICE_TASK_QUEUE": task_queue,
            "SLUICE_DATA_DIR": str(self.folder / task_queue),
            "SLUICE_CODEC_KEYS_FILE": str(self.keys_file),
            "SLUICE_CONFIG": str(config),
            "SLUICE_REVIEWER_REGISTRY": str(self.registry_file),
            **(extra or {}),
        }

    async def signed_approval(self, run_id: str, comment: str) -> Any:
        """``REVIEWER``'s approval of the request ``run_id`` waits on, signed as the CLI
        signs it (before any clock starts: signing is the reviewer's side, not the run's)."""
        pending = await self.sluice.get_workflow_handle(run_id).query(
            "pending_decision", result_type=PendingDecision
        )
        decision = signed_decision(
            self.signing,
            reviewer=REVIEWER,
            workflow_id=run_id,
            request_id=pending.request_id,
            verdict="approve",
            comment=comment,
        )
        return as_signal(decision)

    async def sluice_workers(
        self,
        names: Iterable[str],
        task_queue: str,
        *,
        requests_per_minute: float | None = None,
        extra_env: Mapping[str, str] | None = None,
        traced: Path | None = None,
    ) -> list[Killable]:
        """``python worker.py`` processes polling ``task_queue`` (started once per name),
        under ``bench.traced_worker`` with snapshots in the folder ``traced`` if given."""
        names = list(names)
        config = worker_config(
            self.folder / f"{task_queue}.toml",
            self.registry_file,
            requests_per_minute,
            workers=len(names),
        )
        env = self.sluice_env(task_queue, config, extra_env)
        return await self._started(
            {
                name: _traced(WorkerProcess(name, self.folder / f"{name}.log", env), traced)
                for name in names
            }
        )

    async def bare_worker(self, name: str, task_queue: str, traced: Path | None = None) -> Killable:
        config = worker_config(self.folder / f"{task_queue}.toml", self.registry_file)
        process = BareWorkerProcess(
            name, self.folder / f"{name}.log", self.server.address, task_queue,
            self.folder / task_queue, config,
        )  # fmt: skip
        return (await self._started({name: _traced(process, traced)}))[0]

    async def _started(self, wanted: dict[str, Killable]) -> list[Killable]:
        fresh = [process for name, process in wanted.items() if name not in self.workers]
        for process in fresh:
            process.start()
            self.workers[process.name] = process
        await asyncio.gather(*(polling(process) for process in fresh))
        return [self.workers[name] for name in wanted]

    def pids(self, *workers: str) -> dict[str, int]:
        """The processes to measure: the driver, the server and the named workers."""
        found = {DRIVER: os.getpid(), SERVER: pid_of(self.server)}
        found.update({name: pid_of(self.workers[name]) for name in workers})
        return found

    def stop(self) -> None:
        for process in self.workers.values():
            process.stop()
        self.server.stop()


def _traced(worker: Killable, snapshots: Path | None) -> Killable:
    if snapshots is None:
        return worker
    snapshots.mkdir(parents=True, exist_ok=True)
    return Traced(worker, snapshots)


def pid_of(process: Killable) -> int:
    assert process.process is not None, f"{process.name} was not started"
    return process.process.pid


async def polling(process: Killable, seconds: float = 90) -> None:
    """Wait until a worker process says it polls its task queue."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.process is not None and process.process.poll() is not None:
            raise RuntimeError(f"{process.name} exited: {tail(process.log)}")
        if process.log.exists() and "worker polling task queue" in process.log.read_text(
            errors="replace"
        ):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{process.name} did not start polling in {seconds}s: {tail(process.log)}")


def tail(log: Path, lines: int = 8) -> str:
    if not log.exists():
        return "(no log)"
    return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])


# --- driving runs --------------------------------------------------------------------------


# No single run of any benchmark takes anywhere near this; a run that does is stuck (a worker
# died, say) and the benchmark is reported as failed rather than waiting for ever.
RUN_TIMEOUT_SECONDS = 300.0


async def closed_loop(
    run_one: Callable[[int], Awaitable[Any]], runs: int, concurrency: int
) -> float:
    """Seconds to complete ``runs`` calls of ``run_one`` with ``concurrency`` in flight."""
    limit = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with limit:
            await asyncio.wait_for(run_one(n), RUN_TIMEOUT_SECONDS)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(runs)))
    return time.perf_counter() - started


async def bounded(calls: Iterable[Awaitable[Any]], concurrency: int) -> list[Any]:
    """Await every call with at most ``concurrency`` pending at once."""
    limit = asyncio.Semaphore(concurrency)

    async def one(call: Awaitable[Any]) -> Any:
        async with limit:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def wait_for_count(
    client: Client, query: str, expected: int, seconds: float, every: float = 1.0
) -> float:
    """Seconds until visibility counts ``expected`` runs matching ``query``."""
    started = time.monotonic()
    found = -1
    while time.monotonic() - started < seconds:
        found = await count(client, query)
        if found == expected:
            return time.monotonic() - started
        await asyncio.sleep(every)
    raise TimeoutError(f"{query}: {found} runs after {seconds:.0f}s, expected {expected}")


async def asyncio_round(folder: Path, runs: int, concurrency: int, prefix: str) -> dict[str, float]:
    """One round of the plain asyncio pipeline in its own process: runs, seconds and the
    CPU seconds it used while running them (its start-up not counted)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bare", "asyncio", "--runs", str(runs),
        "--concurrency", str(concurrency), "--data-dir", str(folder / "asyncio"),
        "--shipment", str(CLEAN), "--prefix", prefix,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"asyncio pipeline failed: {err.decode(errors='replace')[-500:]}")
    measured: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return measured


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
