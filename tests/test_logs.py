"""JSON logs as containers write them: workflow and activity ids from Temporal's own log
records, never an exception's message (which may quote personal data)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from sluice.logs import JsonLogFormatter

APPLICANT = "Margarethe Oyelaran-Vasquez"


class Lines(logging.Handler):
    """Keeps every record as the JSON line the container would print."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonLogFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@activity.defn(name="check_applicant_for_logs")
async def check_applicant(applicant: str) -> str:
    activity.logger.warning("checking the applicant")
    return "checked"


@workflow.defn(name="LoggingProbe", sandboxed=False)
class LoggingProbe:
    @workflow.run
    async def run(self, applicant: str) -> str:
        workflow.logger.warning("starting the check")
        return await workflow.execute_activity(
            check_applicant, applicant, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_lines_logged_in_a_run_carry_its_workflow_and_activity_ids(
    client: Client, task_queue: str
) -> None:
    lines = Lines()
    sdk_logger = logging.getLogger("temporalio")
    sdk_logger.addHandler(lines)
    # As sluice.logs.configure_logging("json") sets them: ids as fields, not in the message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    try:
        async with Worker(
            client, task_queue=task_queue, workflows=[LoggingProbe], activities=[check_applicant]
        ):
            workflow_id = f"logging-{uuid.uuid4().hex[:8]}"
            handle = await client.start_workflow(
                LoggingProbe.run, APPLICANT, id=workflow_id, task_queue=task_queue
            )
            assert await handle.result() == "checked"
    finally:
        sdk_logger.removeHandler(lines)
        workflow.logger.workflow_info_on_message = True
        activity.logger.activity_info_on_message = True
    from_workflow = next(line for line in lines.lines if line["message"] == "starting the check")
    assert from_workflow["workflow_id"] == workflow_id
    assert from_workflow["run_id"] == handle.result_run_id
    assert from_workflow["workflow_type"] == "LoggingProbe"
    assert from_workflow["task_queue"] == task_queue
    from_activity = next(
        line for line in lines.lines if line["message"] == "checking the applicant"
    )
    assert from_activity["workflow_id"] == workflow_id
    assert from_activity["run_id"] == handle.result_run_id
    assert from_activity["activity_type"] == "check_applicant_for_logs"
    assert from_activity["activity_id"] and from_activity["attempt"] == 1
    assert from_activity["level"] == "WARNING" and from_activity["logger"] == "temporalio.activity"
    assert APPLICANT not in json.dumps(lines.lines)  # inputs are never logged


def test_an_error_is_logged_by_type_and_place_never_by_its_message() -> None:
    try:
        raise ValueError(f"applicant {APPLICANT} born 1984-02-29 does not match")
    except ValueError as err:
        record = logging.LogRecord(
            "sluice.test", logging.ERROR, __file__, 1, "document check failed", None,
            (type(err), err, err.__traceback__),
        )  # fmt: skip
    line = json.loads(JsonLogFormatter().format(record))
    assert line["message"] == "document check failed"
    assert line["error_type"] == "ValueError"
    assert line["error_at"].endswith(
        "in test_an_error_is_logged_by_type_and_place_never_by_its_message"
    )
    assert APPLICANT not in json.dumps(line) and "1984" not in json.dumps(line)


def test_only_ids_are_taken_from_temporal_log_details() -> None:
    record = logging.LogRecord("temporalio.workflow", logging.INFO, __file__, 1, "step", None, None)
    record.temporal_workflow = {  # what the SDK attaches, plus something it must not copy
        "workflow_id": "shp-0419",
        "run_id": "r-1",
        "workflow_type": "CargoReleaseWorkflow",
        "attempt": 1,
        "task_queue": "sluice",
        "namespace": "default",
        "consignee": APPLICANT,
    }
    line = json.loads(JsonLogFormatter().format(record))
    assert line["workflow_id"] == "shp-0419" and line["workflow_type"] == "CargoReleaseWorkflow"
    assert "consignee" not in line and APPLICANT not in json.dumps(line)
