"""Shared fixtures: the built-in simulated modem on a real pseudo-terminal, and a host Modem
talking to it through the production serial path. The only seam is the port name."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modemd.config import ModemConfig
from modemd.modem.device import Modem
from modemd.modem.references import ReferenceCounter
from modemd.sim.modem import Faults, SimulatedModem
from modemd.sim.profiles import PROFILES, get_profile
from modemd.sim.pty import PtySimulator
from modemd.sms.pdu import Deliver, StatusReport

ALL_PROFILES = sorted(PROFILES)


class Inbox:
    """Collects what the host hands over, with a wait that never sleeps blindly."""

    def __init__(self) -> None:
        self.messages: list[Deliver] = []
        self.reports: list[StatusReport] = []
        self._cond = threading.Condition()
        self.fail = False  # make the handler raise, to test that nothing is deleted then

    def on_sms(self, message: Deliver) -> None:
        if self.fail:
            raise RuntimeError("handler refused the message")
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def on_report(self, report: StatusReport) -> None:
        with self._cond:
            self.reports.append(report)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Inbox], bool], timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def texts(self) -> list[str]:
        with self._cond:
            return [m.text for m in self.messages]


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[Callable[..., PtySimulator]]:
    sims: list[PtySimulator] = []

    def factory(
        profile: str = "generic", faults: Faults | None = None, **options: Any
    ) -> PtySimulator:
        options.setdefault("send_latency", 0.01)
        modem = SimulatedModem(get_profile(profile), faults, **options)
        sim = PtySimulator(modem, link=tmp_path / f"ttySIM{len(sims)}").start()
        sims.append(sim)
        return sim

    yield factory
    for sim in sims:
        sim.stop()


@pytest.fixture
def make_modem(tmp_path: Path) -> Iterator[Callable[..., tuple[Modem, Inbox]]]:
    modems: list[Modem] = []

    def factory(sim: PtySimulator, start: bool = True, **config: Any) -> tuple[Modem, Inbox]:
        inbox = Inbox()
        config.setdefault("command_timeout", 2.0)
        modem = Modem(
            ModemConfig(port=sim.port, **config),
            on_sms=inbox.on_sms,
            on_status_report=inbox.on_report,
            references=ReferenceCounter(tmp_path / "concat-ref"),
        )
        modems.append(modem)
        if start:
            modem.start()
        return modem, inbox

    yield factory
    for modem in modems:
        modem.stop()


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll a condition owned by another thread (the simulator's), up to a deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
