"""`modemd run` as systemd runs it: signals and sd_notify, with the simulator in its own
process so the modem outlives the daemon."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modemd.members.registry import Registry
from modemd.store.db import open_database
from tests.trial_support import alert_state


class Setup:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.link, self.record = root / "ttySIM", root / "sent.jsonl"
        self.sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modemd",
                "sim",
                "--profile",
                "quectel-ec25",
                "--link",
                str(self.link),
                "--latency",
                "0.05",
                "--record",
                str(self.record),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        assert self.sim.stdout is not None and self.sim.stdout.readline().strip()
        self.state, self.spool = root / "state", root / "spool"
        self.config = root / "modemd.yaml"
        self.write_config(per_minute=0)
        db = open_database(self.state)
        registry = Registry(db)
        self.phones = [f"+336{40_000_000 + i:08d}" for i in range(40)]
        for phone in self.phones:
            registry.add(phone)
        db.close()

    def write_config(self, per_minute: int) -> None:
        self.config.write_text(
            f"modem: {{port: {self.link}, command_timeout: 2, delivery_reports: false}}\n"
            f"spool_dir: {self.spool}\nstate_dir: {self.state}\n"
            f"limits: {{per_minute: {per_minute}}}\n"
        )

    def daemon(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.root / "daemon.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "modemd", "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, **(env or {})},
            )

    def drop(self, text: str) -> None:
        (self.spool / "outgoing").mkdir(parents=True, exist_ok=True)
        tmp = self.spool / "outgoing" / ".a.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.rename(self.spool / "outgoing" / "alert.txt")

    def blocked_by(self) -> str | None:
        """The SIM window the running daemon says holds the queue, from its status file."""
        try:
            status = json.loads((self.state / "status.json").read_text())
        except (OSError, ValueError):
            return None
        blocked = status["dispatcher"]["blocked"]
        return str(blocked["window"]) if blocked else None

    def sent(self) -> list[str]:
        if not self.record.exists():
            return []
        lines = self.record.read_text().splitlines()
        return [json.loads(line)["recipient"] for line in lines if line.strip()]

    def alert_state(self) -> str | None:
        return alert_state(self.state)

    def wait(self, predicate: object, timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        self.sim.terminate()
        self.sim.wait(10)
        if self.sim.stdout is not None:
            self.sim.stdout.close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    yield s
    s.close()


def test_sigterm_during_fan_out_then_restart_finishes(setup: Setup) -> None:
    daemon = setup.daemon()
    setup.drop("Vol à l'arraché signalé place de la mairie.")
    assert setup.wait(lambda: len(setup.sent()) >= 10)
    stopping = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert time.monotonic() - stopping < 10
    assert len(setup.sent()) < len(setup.phones)  # it really stopped mid-way
    daemon = setup.daemon()
    try:
        assert setup.wait(lambda: setup.alert_state() == "done", timeout=30)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
    sent = setup.sent()
    assert set(sent) == set(setup.phones)
    assert len(sent) <= len(setup.phones) + 1  # at most the part in flight at the stop


def test_sighup_changes_a_limit_live(setup: Setup) -> None:
    setup.write_config(per_minute=3)
    daemon = setup.daemon()
    try:
        setup.drop("Escroquerie au faux technicien, ne laissez entrer personne.")
        assert setup.wait(lambda: len(setup.sent()) == 3)
        assert setup.wait(lambda: setup.blocked_by() == "per_minute")
        assert len(setup.sent()) == 3  # the minute window holds
        setup.write_config(per_minute=100)
        daemon.send_signal(signal.SIGHUP)
        assert setup.wait(lambda: len(setup.sent()) == len(setup.phones), timeout=20)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
    assert "configuration reloaded" in (setup.root / "daemon.log").read_text()


def test_sd_notify_ready_watchdog_status_stopping(setup: Setup, tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(0.2)
        daemon = setup.daemon({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
        messages: list[str] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (
            "READY=1" in messages and sum(m == "WATCHDOG=1" for m in messages) >= 2
        ):
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                continue
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except (TimeoutError, BlockingIOError):
                break
    assert "READY=1" in messages
    assert sum(m == "WATCHDOG=1" for m in messages) >= 2
    status = [m for m in messages if m.startswith("STATUS=")]
    assert status and "modem ready" in status[-1] and "to send" in status[-1]
    assert "STOPPING=1" in messages
