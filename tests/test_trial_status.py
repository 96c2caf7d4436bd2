"""`modemd status` tells only what is true now: a stopped daemon, a lost modem, a SIM window
holding the queue; and the daemon's log says a throttle once per block, and a cancellation."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import LimitsConfig
from modemd.sim.pty import PtySimulator
from modemd.testing import Harness
from tests.trial_support import Sim, Site, wait_for


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Site, Sim]]:
    sim = Sim(tmp_path, latency=0.02)
    s = Site(tmp_path, sim.port, limits="{per_minute: 2}")
    s.members(6)
    yield s, sim
    s.close()
    sim.close()


def alert_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("alert "))


def test_blocked_then_stopped(site: tuple[Site, Sim]) -> None:
    s, _ = site
    daemon = s.run_daemon()
    assert wait_for(lambda: s.ready(daemon)), s.log()
    s.cli("alert", "send", str(s.alert_file("vol.txt", "Vol à l'étalage, rue Neuve.")))
    assert wait_for(lambda: (s.status_file().get("dispatcher") or {}).get("blocked")), s.log()
    shown = s.cli("status")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "BLOCKED by per_minute" in text
    assert "sending:" not in text  # nothing is being sent while the window holds the queue
    line = alert_line(text)
    # One set of numbers: recipients on the alert's line, parts on the window's.
    assert "2 of 6 sent" in line and "4 left" in line, line
    assert not re.search(r"ETA 0 s\b", line), line
    assert re.search(r"per_minute\s+2 / 2 parts", text), text
    assert "parts sent since start" not in text
    assert s.stop(daemon) == 0

    stopped = s.cli("status")
    assert stopped.returncode == 1
    text = stopped.stdout
    assert "not running" in text
    for stale in ("ETA", "sending", "BLOCKED", "registered", "signal excellent"):
        assert stale not in text, text
    assert "4 left" in alert_line(text)  # the queue itself is still true: it is in the database
    as_json = s.cli("status", "--json")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["running"] is False and data["alerts"][0]["eta_seconds"] is None


def test_a_lost_modem_shows_no_network_it_cannot_know(site: tuple[Site, Sim]) -> None:
    s, sim = site
    daemon = s.run_daemon()
    assert wait_for(lambda: s.ready(daemon)), s.log()
    before = s.cli("status").stdout
    assert "registered" in before and "signal excellent" in before, before
    sim.command("unplug")
    assert wait_for(lambda: s.status_file()["modem"]["state"] != "ready"), s.log()
    text = s.cli("status").stdout
    network = next(line for line in text.splitlines() if line.startswith("network:"))
    assert "unknown" in network, text
    assert "registered" not in network and "excellent" not in network, text
    sim.command("replug")
    assert wait_for(lambda: s.status_file()["modem"]["state"] == "ready", timeout=30), s.log()
    assert "registered" in s.cli("status").stdout
    assert s.stop(daemon) == 0


def test_the_throttle_is_logged_once_per_block(
    tmp_path: Path, make_sim: Callable[..., PtySimulator], caplog: pytest.LogCaptureFixture
) -> None:
    # The daemon in-process, for its clock: a minute's window slides at once.
    sim = make_sim("quectel-ec25")
    h = Harness(tmp_path, sim, limits=LimitsConfig(per_minute=2))
    h.members(7)
    caplog.set_level(logging.INFO, logger="modemd.pipeline.dispatcher")
    try:
        dispatcher = h.start().dispatcher
        h.drop("vol.txt", "Vol à l'étalage, rue Neuve.")
        for sent in (2, 4, 6):
            assert h.wait(lambda: h.messages() >= sent), h.messages()  # noqa: B023
            assert h.wait(lambda: dispatcher.state.blocked is not None)
            h.clock.advance(61)  # the window slides: room for two more
        assert h.wait(lambda: h.messages() >= 7)
    finally:
        h.stop()
    said = [r.getMessage() for r in caplog.records if "SIM limit" in r.getMessage()]
    assert len(said) == 1, said
