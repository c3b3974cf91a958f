"""Real processes to break on purpose: the Temporal dev server on a SQLite file, and Sluice
workers, each started as its own OS process so a test can SIGKILL it and start it again."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sluice import search_attributes
from sluice.binaries import temporal_cli

ROOT = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    """``count`` ports free on 127.0.0.1 now, all different: probed together, since a port
    probed and let go can be the very one the next probe is given (two servers of one worker
    once got the same port that way)."""
    with contextlib.ExitStack() as probes:
        sockets = [probes.enter_context(socket.socket()) for _ in range(count)]
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in sockets]


def free_port() -> int:
    return free_ports(1)[0]


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {seconds}s")


class Killable:
    """A child process that can be killed without warning and started again."""

    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no graceful anything."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


class DevServer(Killable):
    """``temporal server start-dev`` persisted to ``database``, headless, on a fixed port."""

    def __init__(self, database: Path, log: Path) -> None:
        super().__init__("temporal", log)
        self.database = database
        self.port = free_port()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            temporal_cli(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(self.port), "--db-filename", str(self.database),
            "--log-level", "error", *search_attributes.dev_server_flags(),
        ]  # fmt: skip

    def start(self) -> None:
        super().start()
        wait_for_port(self.port)
        self.wait_until_healthy()

    def wait_until_healthy(self, seconds: float = 60) -> None:
        """The port opens before the frontend serves ("Frontend is not healthy yet"): a
        client that connects in between fails, so wait for the server's own health check."""
        deadline = time.monotonic() + seconds
        check = [temporal_cli(), "operator", "cluster", "health", "--address", self.address]
        while time.monotonic() < deadline:
            if subprocess.run(check, capture_output=True, timeout=30).returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"Temporal at {self.address} not healthy after {seconds}s")


class WorkerProcess(Killable):
    """``python worker.py`` with the given environment (address, queue, data, keys)."""

    def __init__(self, name: str, log: Path, env: dict[str, str]) -> None:
        super().__init__(name, log)
        self.env = env

    def command(self) -> list[str]:
        return [sys.executable, "worker.py"]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}
