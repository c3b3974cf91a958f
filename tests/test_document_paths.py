"""Documents given by path reach no secret: only files inside the intake folder are read.

A hostile path names the codec's key ring, ``.env``, ``.git/config`` or ``/etc/passwd``,
directly or through a link; or it is no file at all (a FIFO, a folder), or carries a NUL
byte or 5000 characters. ``starter.py start`` and ``provide`` refuse each one before any run
starts (exit 2, one line, no folder of the machine shown). Sent straight to the worker with
a client that skips the CLI, each is refused by the activity: the document counts as
unreadable, the run asks a person for it, and the key never reaches the run's history.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.kyc.models import KycApplication
from sluice.app.catalog import check_sections
from sluice.client import connect
from sluice.codec import EncryptionCodec, KeyFile
from sluice.config import ConfigError, Settings, TemporalSettings, load_settings
from sluice.intake import IntakeRefusal, read_document
from tests.support import starter
from tests.test_personal_data import payloads_in
from tests.workflows.test_kyc_review import (
    application,
    electricity_bill,
    passport,
    provided,
    start,
    until_awaiting,
    until_decision_needed,
)

ENV_SECRET = "MISTRAL_API_KEY=env-secret-4f1c9a"
GIT_SECRET = "url = https://deploy:git-secret-77d2@example.invalid/sluice.git"
PASSWD_LINE = "root:x:0:0"


@dataclass(frozen=True)
class Project:
    """A project folder as an operator has it, with secrets beside the intake folder."""

    root: Path
    intake: Path
    keys: Path

    def secrets(self) -> list[str]:
        """Every text whose presence in a history would be a leak: each key of the ring."""
        ring = KeyFile.model_validate_json(self.keys.read_bytes())
        return [*ring.keys.values(), ENV_SECRET, GIT_SECRET, PASSWD_LINE]


@pytest.fixture
def project(tmp_path: Path, settings: Settings, codec_keys: Path) -> Project:
    """``root/var/codec/keys.json`` holds the ring that encrypts the test's histories; the
    intake folder holds one good document and traps: links to the ring, hidden files, a
    FIFO, a folder."""
    root = tmp_path / "project"
    keys = root / "var" / "codec" / "keys.json"
    keys.parent.mkdir(parents=True)
    shutil.copyfile(codec_keys, keys)
    (root / ".env").write_text(ENV_SECRET + "\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(f'[remote "origin"]\n\t{GIT_SECRET}\n')
    intake = root / "intake"
    intake.mkdir()
    (intake / "passport.txt").write_text(passport())
    (intake / "keys_link.txt").symlink_to(keys)
    (intake / "linked").symlink_to(keys.parent, target_is_directory=True)
    (intake / ".env").write_text(ENV_SECRET + "\n")
    (intake / ".git").mkdir()
    (intake / ".git" / "config").write_text(f"\t{GIT_SECRET}\n")
    os.mkfifo(intake / "fifo.pdf")
    (intake / "folder.pdf").mkdir()
    settings.data_dir = root / "var"
    settings.codec.keys_file = keys
    settings.documents.intake_dir = intake
    return Project(root, intake, keys)


# Each hostile path, and a word its refusal must give so the person knows what to fix.
HOSTILE = {
    "parent-to-the-key-ring": ("../var/codec/keys.json", "'..' is refused"),
    "absolute-etc-passwd": ("/etc/passwd", "absolute paths are refused"),
    "symlink-to-the-key-ring": ("keys_link.txt", "symbolic links are not followed"),
    "symlinked-folder": ("linked/keys.json", "symbolic links are not followed"),
    "dotenv": (".env", "hidden names"),
    "git-config": (".git/config", "hidden names"),
    "nul-byte": ("passport.txt\x00.pdf", "NUL byte"),
    "5000-characters": ("a" * 5000, "at most 1024"),
    "fifo": ("fifo.pdf", "not a regular file"),
    "folder": ("folder.pdf", "a folder, not a document"),
}
CASES = [pytest.param(path, word, id=name) for name, (path, word) in HOSTILE.items()]


def application_naming(path: str) -> KycApplication:
    return application(identity={"path": path})


def leaks(project: Project, message: str) -> list[str]:
    """What a message shows that it must not: the machine's folders or a secret."""
    return [text for text in (str(project.root), *project.secrets()) if text in message]


async def history_texts(client: Client, codec: EncryptionCodec, workflow_id: str) -> bytes:
    """The run's history as the server stores it, and every payload in it decrypted."""
    keyless = await connect(TemporalSettings(address=client.service_client.config.target_host))
    history = await keyless.get_workflow_handle(workflow_id).fetch_history()
    stored = b"".join(event.SerializeToString() for event in history.events)
    payloads = [p for event in history.events for p in payloads_in(event)]
    return stored + b"".join(p.data for p in await codec.decode(payloads))


async def assert_refused_and_asked_of_a_person(
    handle: WorkflowHandle[Any, Any], project: Project, word: str, client: Client, codec: Any
) -> None:
    status = await until_awaiting(handle)
    assert status.awaiting_input is not None
    assert status.awaiting_input.outstanding == ["identity_document"]
    stored = await history_texts(client, codec, handle.id)
    await handle.terminate("test over")
    for secret in project.secrets():
        for form in {secret.encode(), json.dumps(secret)[1:-1].encode()}:
            assert form not in stored, f"{secret[:12]}... reached the run's history"
    assert b"21FD83145" not in stored  # nor was the one good document, by a cut name
    (reason,) = status.awaiting_input.request.reasons
    assert leaks(project, reason) == []
    assert word in reason


@pytest.mark.parametrize(("path", "word"), CASES)
async def test_starter_refuses_a_hostile_document_path_before_any_run_starts(
    dev_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    project: Project,
    tmp_path: Path,
    path: str,
    word: str,
) -> None:
    app = application_naming(path)
    file = tmp_path / "application.json"
    file.write_text(app.model_dump_json())
    workflow_id = f"kyc-refused-{uuid.uuid4().hex[:8]}"

    refused = await starter(
        dev_env, settings, "start", "kyc-review", str(file), "--id", workflow_id
    )

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert word in refused.stderr
    assert leaks(project, refused.stderr) == []
    with pytest.raises(RPCError):
        await client.get_workflow_handle(workflow_id).describe()


@pytest.mark.parametrize(("path", "word"), CASES)
async def test_worker_refuses_a_hostile_path_sent_past_the_cli_and_asks_a_person(
    client: Client,
    settings: Settings,
    codec: EncryptionCodec,
    project: Project,
    make_worker: Callable[..., Any],
    path: str,
    word: str,
) -> None:
    async with make_worker(client):
        handle = await start(client, settings, application_naming(path))
        await assert_refused_and_asked_of_a_person(handle, project, word, client, codec)


async def test_a_document_in_the_intake_folder_is_read(
    client: Client, settings: Settings, project: Project, make_worker: Callable[..., Any]
) -> None:
    (project.intake / "applicants").mkdir()
    (project.intake / "applicants" / "bill.txt").write_text(electricity_bill())
    app = application(identity={"path": "passport.txt"}, proof={"path": "applicants/bill.txt"})
    async with make_worker(client):
        handle = await start(client, settings, app)
        status = await until_decision_needed(handle)
        await handle.terminate("test over")
    assert status.awaiting_input is None


async def test_provide_refuses_a_hostile_path_at_the_cli_and_at_the_worker(
    dev_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    codec: EncryptionCodec,
    project: Project,
    tmp_path: Path,
    make_worker: Callable[..., Any],
) -> None:
    delivery = provided("identity_document", path="linked/keys.json")
    file = tmp_path / "delivery.json"
    file.write_text(json.dumps(delivery))
    async with make_worker(client):
        handle = await start(client, settings, application(identity={}))
        await until_awaiting(handle)

        refused = await starter(dev_env, settings, "provide", handle.id, str(file))
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "symbolic links are not followed" in refused.stderr
        assert leaks(project, refused.stderr) == []

        # The same delivery sent as a raw signal: read by the worker, refused there.
        await handle.signal("provide_document", delivery)
        await assert_refused_and_asked_of_a_person(
            handle, project, "symbolic links are not followed", client, codec
        )


# --- the reader alone, for any name -----------------------------------------------------------

PARTS = st.sampled_from(
    [
        *("..", ".", "", "passport.txt", "keys_link.txt", "linked", "keys.json", ".env"),
        *(".git", "config", "folder.pdf", "fifo.pdf", "var", "codec", "\x00", "é", "/"),
        "a" * 300,
    ]
)


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(PARTS, min_size=1, max_size=6), absolute=st.booleans())
def test_any_name_reads_the_one_document_or_is_refused(
    project: Project, parts: list[str], absolute: bool
) -> None:
    name = ("/" if absolute else "") + "/".join(parts)
    try:
        content = read_document(project.intake, name, 1_000_000)
    except IntakeRefusal as refusal:
        assert leaks(project, str(refusal)) == []
    else:
        assert name == "passport.txt" and content == passport().encode()


# --- where the intake folder may be -----------------------------------------------------------


@pytest.mark.parametrize(
    ("intake", "what"),
    [
        pytest.param(".", "the data folder", id="the-project-folder"),
        pytest.param("var", "the data folder", id="the-data-folder"),
        pytest.param("var/inbox", "the data folder", id="inside-the-data-folder"),
        pytest.param("secrets", "the key file's folder", id="the-key-folder"),
        pytest.param("config", "the configuration file", id="the-configuration-folder"),
    ],
)
def test_configuration_refuses_an_intake_folder_near_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, intake: str, what: str
) -> None:
    (tmp_path / "config").mkdir()
    config = tmp_path / "config" / "sluice.toml"
    config.write_text(
        'data_dir = "var"\n[codec]\nkeys_file = "secrets/keys.json"\n'
        f'[documents]\nintake_dir = "{intake}"\n'
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as refused:
        load_settings(config, environ={})
    assert "documents.intake_dir: an intake folder must not" in str(refused.value)
    assert what in str(refused.value)


def test_configuration_refuses_a_document_setting_that_moved(tmp_path: Path) -> None:
    config = tmp_path / "sluice.toml"
    config.write_text('[kyc]\ndocument_root = "."\n')
    # The [kyc] section belongs to its process: the worker reads it at start.
    with pytest.raises(ConfigError, match=r"document_root moved to \[documents\]"):
        check_sections(load_settings(config, environ={}))


def test_the_sample_configuration_has_its_own_intake_folder() -> None:
    sample = load_settings(Path(__file__).parent.parent / "sluice.toml", environ={})
    assert sample.documents.intake_dir == Path("examples/kyc_review/intake")
