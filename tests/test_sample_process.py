"""A process declared only in a test package (``tests/sample_process``) runs end to end, with
no other file edited: the worker registers it from its declaration (the plugin), the CLI
starts it by its command (``SLUICE_PROCESSES`` names its module), a reviewer approves it with
a signed decision, and the claim is paid once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.connectors.ledger import Ledger
from sluice.app.catalog import PROCESSES, PROCESSES_VARIABLE
from sluice.app.plugin import ProcessPlugin, worker_client
from sluice.config import Settings
from tests.conftest import approval_settings
from tests.sample_process import workflow as expense_claim
from tests.sample_process.activities import ExpenseSettings
from tests.support import ROOT, cli_environment, status_until

SAMPLE = expense_claim.PROCESS


async def cli(
    dev_env: WorkflowEnvironment, settings: Settings, *args: str
) -> subprocess.CompletedProcess[str]:
    """``starter.py ARGS`` as an operator runs it with the sample package named."""
    env = cli_environment(dev_env, settings) | {PROCESSES_VARIABLE: "tests.sample_process.workflow"}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "starter.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_process_declared_in_a_test_package_runs_end_to_end(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    settings.approvals[SAMPLE.domain] = approval_settings(reviewers={"expense_approval": ["alice"]})
    claim = SAMPLE.examples / "large.json"
    async with Worker(
        worker_client(dev_env.client),
        task_queue=settings.temporal.task_queue,
        plugins=[ProcessPlugin(settings, (*PROCESSES, SAMPLE))],
    ):
        started = await cli(dev_env, settings, "start", SAMPLE.command, str(claim))
        assert started.returncode == 0, started.stderr
        workflow_id = started.stdout.split("started ExpenseClaimWorkflow ")[1].split()[0]
        handle = dev_env.client.get_workflow_handle(workflow_id)
        waiting = await status_until(
            handle, lambda s: s.pending_decision is not None, what="the manager's decision"
        )
        assert waiting.pending_decision is not None
        assert waiting.pending_decision.request.kind == "expense_approval"

        approved = await cli(dev_env, settings, "approve", workflow_id, "--reviewer", "alice")
        assert approved.returncode == 0, approved.stderr
        outcome = await handle.result()
        shown = await cli(dev_env, settings, "audit", workflow_id, "--json")
        assert shown.returncode == 0, shown.stderr

    assert outcome["action"] == "paid" and outcome["decision"] == "approved"
    ledger = Ledger(settings.data_dir / "expenses.sqlite3", "expense")
    assert [entry.subject for entry in ledger.actions()] == ["exp-0001"]
    kinds = [event["kind"] for event in json.loads(shown.stdout)["events"]]
    assert kinds[0] == "started" and "decision" in kinds and kinds[-1] == "completed"


def test_its_settings_come_from_its_own_section() -> None:
    settings = Settings.model_validate({"expenses": {"approve_up_to": "120"}})
    assert SAMPLE.section(settings) == ExpenseSettings(approve_up_to=120)
    assert SAMPLE.section(Settings()) == ExpenseSettings()


def test_a_module_without_a_process_is_refused_in_one_line() -> None:
    run = subprocess.run(
        [sys.executable, "starter.py", "pending"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", PROCESSES_VARIABLE: "tests.sample_process.activities"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"error: {PROCESSES_VARIABLE}: tests.sample_process.activities declares no PROCESS"
    ]
