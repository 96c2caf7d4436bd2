"""Test support shipped with the package (as aiosmtpd ships ``testing``): a running daemon,
in-process with its real threads, against the simulated modem over a pseudo-terminal or a
``file://`` channel. Used by the test suite and by the benchmarks in ``bench/``."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from modemd.channels.file import read_sent
from modemd.config import Config, LimitsConfig, ModemConfig
from modemd.members.registry import Registry
from modemd.service.daemon import Daemon
from modemd.sim.pty import PtySimulator
from modemd.store.db import open_database


class FakeClock:
    """Wall time plus an offset the test can push forward (windows of an hour in a second)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclasses.dataclass(frozen=True)
class FileConcat:
    reference: int
    total: int
    sequence: int


@dataclasses.dataclass(frozen=True)
class FileSent:
    """One part a file channel wrote, shaped as the simulator's record of a part."""

    recipient: str
    text: str
    concat: FileConcat | None


class FileNetwork:
    """A ``file://`` channel where a test would put a simulated modem: its ``port`` for the
    configuration, and what it "sent" read back from its file."""

    def __init__(self, path: Path, send_time: float = 0.0) -> None:
        self.path = path
        self.port = f"file://{path}" + (f"?send_time={send_time}" if send_time else "")

    def sent(self) -> list[FileSent]:
        messages: dict[str, int] = {}
        out = []
        for line in read_sent(self.path):
            reference = messages.setdefault(str(line.get("message", line["id"])), len(messages))
            total, seq = int(line["total"]), int(line["seq"])
            concat = FileConcat(reference, total, seq) if total > 1 else None
            out.append(FileSent(str(line["recipient"]), str(line["text"]), concat))
        return out


Network = PtySimulator | FileNetwork


class Harness:
    """One simulator gives the single-modem set-up; a list of them gives a pool, the modems
    named sim1, sim2... (with ``sim_limits``, each SIM's own plan). A ``FileNetwork`` stands
    wherever a simulator does: the same daemon, sending through a file channel."""

    def __init__(
        self,
        root: Path,
        sim: Network | list[Network],
        *,
        polling: bool = False,
        sim_limits: list[LimitsConfig] | None = None,
        **config: Any,
    ) -> None:
        self.root = root
        self.polling = polling
        self.sims = sim if isinstance(sim, list) else [sim]
        self.sim = self.sims[0]
        limits = config.pop("limits", LimitsConfig())
        modems = []
        if isinstance(sim, list):
            modems = [
                ModemConfig(
                    name=f"sim{i + 1}",
                    port=s.port,
                    command_timeout=2.0,
                    delivery_reports=False,
                    limits=sim_limits[i] if sim_limits else None,
                )
                for i, s in enumerate(self.sims)
            ]
        self.config = Config(
            modem=ModemConfig(port=self.sim.port, command_timeout=2.0, delivery_reports=False),
            modems=modems,
            spool_dir=root / "spool",
            state_dir=root / "state",
            limits=limits,
            **config,
        )
        self.clock = FakeClock()
        self.daemon: Daemon | None = None
        self._members = 0
        db = open_database(self.config.state_dir)
        self.registry = Registry(db)

    def start(self) -> Daemon:
        self.daemon = Daemon(self.config, clock=self.clock, polling=self.polling)
        self.daemon.start()
        for member in self.daemon.pool.members.values():
            assert member.channel.wait_ready(10), member.name
        return self.daemon

    def restart(self, **changes: Any) -> Daemon:
        self.stop()
        if changes:
            self.config = dataclasses.replace(self.config, **changes)
        return self.start()

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

    def members(self, count: int, commune: str = "", sector: str = "") -> list[str]:
        phones = []
        for _ in range(count):
            self._members += 1
            phone = f"+336{10_000_000 + self._members:08d}"
            self.registry.add(
                phone, name=f"Commerce {self._members}", commune=commune, sector=sector
            )
            phones.append(phone)
        return phones

    def drop(self, name: str, content: str | bytes) -> Path:
        """The documented way: write aside, rename into outgoing/."""
        outgoing = self.config.spool_dir / "outgoing"
        outgoing.mkdir(parents=True, exist_ok=True)
        tmp = outgoing / f".{name}.tmp"
        tmp.write_bytes(content.encode() if isinstance(content, str) else content)
        os.replace(tmp, outgoing / name)
        return outgoing / name

    def wait(self, predicate: Any, timeout: float = 15.0, step: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(step)
        return True

    def sent_to(self) -> list[str]:
        """One entry per complete message (its last part) the network received."""
        return [
            s.recipient
            for sim in self.sims
            for s in sim.sent()
            if s.concat is None or s.concat.sequence == s.concat.total
        ]

    def messages(self) -> int:
        return len(self.sent_to())

    def folder(self, name: str) -> list[str]:
        path = self.config.spool_dir / name
        return sorted(p.name for p in path.iterdir()) if path.exists() else []

    def alert_state(self, alert_id: str) -> str:
        assert self.daemon is not None and self.daemon.db is not None
        row = self.daemon.db.one("SELECT state FROM alerts WHERE id = ?", (alert_id,))
        return str(row["state"]) if row else "missing"

    def alerts(self) -> list[dict[str, Any]]:
        assert self.daemon is not None and self.daemon.db is not None
        return [dict(r) for r in self.daemon.db.query("SELECT * FROM alerts ORDER BY created_at")]
