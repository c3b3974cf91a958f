"""Record the histories of real runs of every example, for the replay test.

    .venv/bin/python -m tests.histories.record [--process COMMAND] [--tag TAG]

``--process`` records one process's examples only; ``--tag`` writes ``<example>.<tag>.json``
beside the histories already there instead of replacing them (record the runs of a new code
path, keep the old ones: both must replay).

Each example runs to completion on a fresh embedded dev server (plain JSON payloads, so the
files need no key), with people acting as ``tests/people.py`` does. Re-record only when a
change is meant to break running workflows; otherwise the replay test is doing its job.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import uuid
from pathlib import Path

from sluice.app.catalog import PROCESSES
from sluice.app.inputs import read_input
from sluice.app.wiring import build_worker
from sluice.config import DomainApprovalSettings, Settings
from sluice.devserver import start_dev_server
from sluice.framework.process import RunStatus
from sluice.reviewers import ensure_sample_reviewers
from tests.conftest import EXAMPLES
from tests.people import act_on

HERE = Path(__file__).resolve().parent

# The reviewer's edit sent with an approval, by process and example (the rest are approved
# as drafted): the recorded histories then hold the edited reply's path too.
EDITS = {
    ("support-triage", "refund"): (
        "Dear Laura,\n\nwe are refunding 39.90 EUR for your mouse today.\n\n"
        "Best regards,\nCustomer support"
    ),
}


async def record(only: str | None, tag: str | None) -> None:
    env = await start_dev_server(database_file=None, port=None, ui=False)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch))
        settings.codec.disabled = True
        settings.documents.intake_dir = EXAMPLES / "kyc_review" / "intake"
        settings.temporal.task_queue = f"record-{uuid.uuid4().hex[:8]}"
        for process in PROCESSES:
            settings.approvals[process.domain] = DomainApprovalSettings(
                reviewers={"*": ["alice", "bob", "carol", "dave"]}
            )
        ensure_sample_reviewers(
            settings.data_dir, settings.reviewer_registry_file, ["alice", "bob", "carol", "dave"]
        )
        async with build_worker(env.client, settings):
            for process in PROCESSES:
                if only is not None and process.command != only:
                    continue
                folder = HERE / process.command
                folder.mkdir(exist_ok=True)
                for example in sorted((EXAMPLES / process.domain).glob("*.json")):
                    handle = await env.client.start_workflow(
                        process.workflow_type,
                        read_input(process, example),
                        id=f"history-{process.command}-{example.stem}",
                        task_queue=settings.temporal.task_queue,
                    )
                    for _ in range(400):
                        status = await handle.query("status", result_type=RunStatus)
                        if status.state != "running":
                            break
                        await act_on(
                            handle,
                            status,
                            example,
                            rng,
                            settings,
                            approve_share=1.0,
                            final_text=EDITS.get((process.command, example.stem)),
                        )
                        await asyncio.sleep(0.1)
                    await handle.result()
                    history = await handle.fetch_history()
                    name = f"{example.stem}.{tag}.json" if tag else f"{example.stem}.json"
                    (folder / name).write_text(history.to_json())
                    print(
                        f"recorded {process.command}/{example.stem}: {len(history.events)} events"
                    )
    await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--process", choices=[process.command for process in PROCESSES])
    parser.add_argument("--tag", help="suffix of the files written, e.g. local-steps")
    options = parser.parse_args()
    asyncio.run(record(options.process, options.tag))
