"""Local accounts from the command line: ``python -m sluice.app.inbox add-user``."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from sluice.app.inbox.accounts import Accounts

ROOT = Path(__file__).resolve().parents[2]


def add_user(data_dir: Path, *arguments: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    return subprocess.run(
        [sys.executable, "-m", "sluice.app.inbox", "add-user", *arguments, "--password-stdin"],
        input=password + "\n",
        env=env | {"SLUICE_DATA_DIR": str(data_dir)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_user_keeps_an_argon2_hash_in_a_private_file_and_refuses_bad_input(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    created = add_user(data_dir, "carol", password="correct horse battery")
    assert created.returncode == 0, created.stderr
    assert created.stdout == "carol: account created\n"
    database = data_dir / "inbox" / "accounts.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    raw = database.read_bytes()
    assert b"correct horse battery" not in raw and b"$argon2id$" in raw
    accounts = Accounts(database)
    assert accounts.check_password("carol", "correct horse battery")
    assert not accounts.check_password("carol", "correct horse batterY")

    again = add_user(data_dir, "carol", password="another long password")
    assert again.returncode == 1 and "carol exists already (--reset" in again.stderr
    reset = add_user(data_dir, "carol", "--reset", password="another long password")
    assert reset.returncode == 0 and accounts.check_password("carol", "another long password")

    short = add_user(data_dir, "erin", password="short")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    forged = add_user(data_dir, "Bob Smith", password="a long enough password")
    assert forged.returncode == 1 and "a user is a reviewer id" in forged.stderr
    assert "Traceback" not in short.stderr + forged.stderr
