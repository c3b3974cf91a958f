"""The benchmarks keep working: ``python -m bench.run --smoke`` runs all six with tiny sizes
against real servers and workers and writes the report. Benchmarks are not tests: nothing
here checks how fast anything was, only that every benchmark measured what it says it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.memory import BARE, SLUICE
from bench.report import Results
from tests.faults.processes import ROOT

SECTIONS = (
    "## 1. Orchestration overhead",
    "## 2. Approval round trip",
    "## 3. Idle cost of waiting",
    "## 4. Rate-limit fidelity",
    "## 5. Scaling",
    "## 6. Screening",
)


def test_smoke_run_measures_all_five_benchmarks_and_writes_the_report(tmp_path: Path) -> None:
    report, plots, work = tmp_path / "BENCHMARKS.md", tmp_path / "plots", tmp_path / "work"
    run = subprocess.run(
        [
            sys.executable, "-m", "bench.run", "--smoke",
            "--output", str(report), "--plots", str(plots), "--work-dir", str(work),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]

    text = report.read_text()
    for section in SECTIONS:
        assert section in text
    assert "Not measured" not in text
    assert "load average at start" in text
    assert "bash scripts/bench.sh --smoke" in text
    for plot in ("throughput", "approval", "rate_limit", "scaling", "screening"):
        assert (plots / f"{plot}.png").stat().st_size > 0

    results = Results.model_validate_json((work / "results.json").read_text())
    assert results.errors == {}

    throughput = results.throughput
    assert throughput is not None
    # Every process's automatic path measured both ways, each run checked to end as it does
    # without a person (the driver fails the benchmark otherwise); the cargo release also as
    # the asyncio pipeline.
    assert set(throughput.processes) == {
        "cargo_release", "kyc_review", "support_triage", "invoice_approval",
    }  # fmt: skip
    for process in throughput.processes.values():
        cargo = process is throughput.cargo
        assert set(process.variants) == {"sluice", "bare", *(["asyncio"] if cargo else [])}
        for variant in process.variants.values():
            assert len(variant.runs_per_second) == throughput.rounds
            assert all(rate > 0 for rate in variant.runs_per_second)
        # One run's history of each: at least its start, a step and its completion.
        assert all(history.events > 3 for history in process.history.values())
        # Its bytes taken apart add up, and only Sluice's carry an encryption envelope.
        for variant, history in process.history.items():
            assert sum(history.parts.values()) == history.bytes
            sealed = history.parts["encryption envelope of the payloads above"]
            assert (sealed > 0) == (variant == "sluice")
        assert f"| {process.title} (`{process.example}`) |" in text
    assert throughput.profiles["sluice"].samples > 0 and throughput.profiles["bare"].samples > 0
    assert "| bytes of one run's history |" in text

    approval = results.approval
    assert approval is not None
    for trips in approval.variants.values():
        assert len(trips.from_client_ms) == approval.runs
        # The release starts after the approval was sent, never before.
        assert all(ms > 0 for ms in trips.from_client_ms)

    idle = results.idle
    assert idle is not None
    assert idle.parked == 5
    for parked in idle.variants.values():
        assert parked.without_runs.worker_rss_mib > 0 and parked.with_parked_runs.worker_rss_mib > 0
        assert parked.approve_all_seconds > 0
        # Approving all was profiled, its CPU per approved run taken, and one approved run's
        # history measured, for each worker: what the report explains the rate with.
        # (Five approvals last a moment: py-spy may only catch threads waiting, which count
        # apart from work; either shows it sampled the worker.)
        profile = parked.approve_profile
        assert profile is not None and profile.samples + profile.waiting_samples > 0
        assert parked.approve_cpu_ms_per_run["worker"] > 0
        assert parked.approved_history is not None and parked.approved_history.events > 3
    assert "#### Where approving all goes (profiled with py-spy)" in text

    # Where a parked run's memory goes, traced in each worker: each worker's own code holds
    # part of every parked run, and the report shows the breakdown.
    memory = results.memory
    assert memory is not None
    assert memory.parked == 3
    assert set(memory.variants) == {"sluice", "bare"}
    for name, own_code in (("sluice", SLUICE), ("bare", BARE)):
        breakdown = memory.variants[name]
        assert breakdown.traced_kib_per_run > 0 and breakdown.rss_kib_per_run > 0
        assert breakdown.kib_per_run[own_code] > 0
        assert breakdown.top_sites
    assert memory.variants["bare"].kib_per_run.get(SLUICE, 0.0) == 0.0
    assert "Where a cached parked run's memory goes (tracemalloc, 3 runs" in text
    assert f"| {SLUICE} |" in text

    limited = results.rate_limit
    assert limited is not None
    # The workers' model calls went through the real SDK to the stub, which answered each one
    # or refused it for the limit, nothing else.
    assert limited.calls_in_window > 0
    assert set(limited.statuses) <= {200, 429}

    scaling = results.scaling
    assert scaling is not None
    assert {setup.workers for setup in scaling.setups.values()} == {1, 2}
    assert all(setup.median > 0 for setup in scaling.setups.values())

    screening = results.screening
    assert screening is not None
    assert screening.quality.pairs >= 250 and len(screening.quality.curve) > 10
    [speed] = screening.speed
    assert speed.entries == 1_000 and speed.queries > 0 and speed.p99_ms >= speed.p50_ms > 0

    # One benchmark measured again on its own: its figures are new, the others' are kept,
    # and the report says which was measured when.
    again = subprocess.run(
        [
            sys.executable, "-m", "bench.run", "--only", "rate_limit",
            "--output", str(report), "--plots", str(plots), "--work-dir", str(work),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    remeasured = Results.model_validate_json((work / "results.json").read_text())
    assert remeasured.rate_limit is not None and remeasured.rate_limit != limited
    assert remeasured.throughput == throughput and remeasured.scaling == scaling
    assert set(remeasured.remeasured) == {"rate_limit"}
    assert "rate_limit by `bash scripts/bench.sh --smoke --only rate_limit`" in report.read_text()


def test_measuring_one_benchmark_again_needs_an_earlier_run(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--only", "idle", "--work-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert "--only needs an earlier run's" in run.stderr
    assert "Traceback" not in run.stderr
