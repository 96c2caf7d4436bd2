"""What a new user does, as processes: `modemd sim` in its own process (its stdin the network's
side), `modemd run` beside it, and the CLI run as a command. Nothing in-process but the
waits."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from modemd.members.registry import Registry
from modemd.store.db import open_database

MODEMD = [sys.executable, "-m", "modemd"]


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def run_modemd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One ``modemd`` command against a configuration, as an operator types it."""
    return subprocess.run(
        [*MODEMD, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``modemd run`` in its own process, its journal appended to ``log``."""
    with open(log, "ab") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*MODEMD, "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def alert_state(state_dir: Path) -> str | None:
    """The state of the only alert (modemd's own replies aside), read as another process
    would (None: none yet)."""
    conn = sqlite3.connect(state_dir / "modemd.db", timeout=10)
    try:
        row = conn.execute("SELECT state FROM alerts WHERE kind = 'alert'").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return row[0] if row else None


def daemon_up(state_dir: Path, pid: int) -> bool:
    """The daemon of this PID has published its status: its signal handlers are in place, so
    a SIGTERM now is a clean stop (one sent while Python is still starting kills it)."""
    from modemd.operations.live import read_status

    return (read_status(state_dir) or {}).get("pid") == pid


class Lines:
    """A process's output stream read line by line in a thread, so a test can wait for a
    line without blocking on the pipe."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def _drain(self) -> None:
        while True:
            try:
                self.lines.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def wait(self, predicate: Callable[[str], bool], count: int = 1, timeout: float = 20) -> bool:
        def seen() -> bool:
            self._drain()
            return sum(map(predicate, self.lines)) >= count

        return wait_for(seen, timeout)

    def join(self) -> None:
        """After the process ended: the rest of its output is read."""
        self._thread.join(10)
        self._drain()

    def text(self) -> str:
        self._drain()
        return "\n".join(self.lines)


class Sim:
    """`modemd sim` as its own process; ``command`` types on its stdin."""

    def __init__(
        self, root: Path, *options: str, latency: float = 0.05, link: Path | None = None
    ) -> None:
        self.link = link or root / "ttyModem"
        self.record = root / "sent.jsonl"
        self.process = subprocess.Popen(
            [
                *MODEMD,
                "sim",
                "--profile",
                "quectel-ec25",
                "--link",
                str(self.link),
                "--latency",
                str(latency),
                "--record",
                str(self.record),
                *options,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.port = self.process.stdout.readline().strip()
        assert self.port, "the simulator printed no port"
        self.stderr = Lines(self.process.stderr)

    def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def sent(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(x) for x in self.record.read_text().splitlines() if x.strip()]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.stderr.join()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class Site:
    """One installation: a configuration, its state and spool, members, and the processes."""

    def __init__(self, root: Path, port: str, *, limits: str = "{}", extra: str = "") -> None:
        self.root = root
        self.state, self.spool = root / "state", root / "spool"
        self.config = root / "modemd.yaml"
        self.config.write_text(
            f"modem: {{port: '{port}', command_timeout: 2, delivery_reports: false}}\n"
            f"spool_dir: {self.spool}\nstate_dir: {self.state}\nlimits: {limits}\n{extra}",
            encoding="utf-8",
        )
        self.daemons: list[subprocess.Popen[str]] = []

    def members(self, count: int, commune: str = "Aurillac") -> list[str]:
        db = open_database(self.state)
        try:
            registry = Registry(db)
            phones = [f"+336{40_000_000 + i:08d}" for i in range(count)]
            for i, phone in enumerate(phones):
                registry.add(phone, name=f"Commerce {i}", commune=commune, sector="tabac")
        finally:
            db.close()
        return phones

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*MODEMD, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )

    def run_daemon(
        self, log_name: str = "daemon.log", env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        with open(self.root / log_name, "a", encoding="utf-8") as log:
            daemon = subprocess.Popen(
                [*MODEMD, "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
                env={**os.environ, **(env or {})},
            )
        self.daemons.append(daemon)
        return daemon

    def log(self, log_name: str = "daemon.log") -> str:
        path = self.root / log_name
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def status_file(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.state / "status.json").read_text())
        except (OSError, ValueError):
            return {}
        return data

    def ready(self, daemon: subprocess.Popen[str]) -> bool:
        """The daemon published a status with its modem ready."""
        status = self.status_file()
        return status.get("pid") == daemon.pid and status["modem"]["state"] == "ready"

    def alert_file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path

    def deliveries(self) -> list[dict[str, Any]]:
        db = open_database(self.state)
        try:
            return [
                dict(r)
                for r in db.query(
                    "SELECT d.*, a.state AS alert_state FROM deliveries d "
                    "JOIN alerts a ON a.id = d.alert_id WHERE a.kind = 'alert' ORDER BY d.id"
                )
            ]
        finally:
            db.close()

    def stop(self, daemon: subprocess.Popen[str]) -> int:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        return daemon.wait(15)

    def close(self) -> None:
        for daemon in self.daemons:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait(10)
