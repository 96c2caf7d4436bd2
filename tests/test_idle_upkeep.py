"""Idle upkeep at the fewest AT commands: one per health check, while a hung modem is still
found at the first check after it hangs and a stored SMS whose +CMTI was lost is still taken
within two checks. (What it costs in CPU and commands a minute is measured by
bench/bench_pipeline.py, not timed here.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import HealthConfig, ModemConfig, parse_duration
from modemd.modem.at import DEFAULT_MARKERS
from modemd.modem.device import Modem
from modemd.modem.upkeep import hang_found_within
from modemd.sim.modem import Faults
from modemd.sim.pty import PtySimulator
from modemd.testing import Harness
from tests.conftest import Inbox, eventually

MakeSim = Callable[..., PtySimulator]
MakeModem = Callable[..., tuple[Modem, Inbox]]
SHOP = "+33612345678"
CHECK_COMMANDS = ("AT+CSQ", "AT+CPMS?", "AT+CPIN?")


def commands(sim: PtySimulator) -> list[str]:
    return sim.call(lambda: list(sim.modem.commands))


def test_each_health_check_sends_one_command_when_idle(
    make_sim: MakeSim, make_modem: MakeModem
) -> None:
    sim = make_sim("huawei-e3372")
    modem, _ = make_modem(sim)
    assert modem.sweep(wait=10)  # the start-up sweep is over (jobs run in order)
    before = len(commands(sim))
    for _ in range(40):
        modem.check()
        assert eventually(lambda b=before: len(commands(sim)) > b)  # one at a time
        before = len(commands(sim))
    sent = commands(sim)[-40:]
    assert set(sent) <= set(CHECK_COMMANDS), Counter(sent)
    counts = Counter(sent)
    assert counts["AT+CPMS?"] == 20 and counts["AT+CPIN?"] == 2 and counts["AT+CSQ"] == 18


@pytest.fixture
def harness(tmp_path: Path, make_sim: MakeSim) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(faults: Faults) -> Harness:
        sim = make_sim("simcom-sim7600", faults)
        h = Harness(tmp_path / f"h{len(made)}", sim, health=HealthConfig(check_interval="1s"))
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


def test_a_hung_modem_is_found_by_the_first_check_after_it_hangs(
    harness: Callable[..., Harness],
) -> None:
    faults = Faults()
    h = harness(faults)
    daemon = h.start()
    assert daemon.modem.sweep(wait=10)  # the start-up sweep is over: idle from here

    def hang() -> int:
        faults.hang_commands = ("AT",)  # answers nothing any more, until power-cycled
        return len(h.sim.modem.commands)

    hung_at = h.sim.call(hang)
    assert h.wait(lambda: "AT+CFUN=1,1" in commands(h.sim)[hung_at:], timeout=30)
    assert not daemon.modem.ready
    after = commands(h.sim)[hung_at:]
    # The first check after the hang got no answer; what followed was the resynchronisation
    # that found the modem silent, then the reset.
    assert after[0] in CHECK_COMMANDS
    assert set(after[1 : after.index("AT+CFUN=1,1")]) <= set(DEFAULT_MARKERS)
    # With the defaults, that is within a minute of the hang.
    defaults = parse_duration(HealthConfig().check_interval), ModemConfig().command_timeout
    assert hang_found_within(*defaults) <= 60


def test_a_stored_sms_whose_cmti_was_lost_is_taken_within_two_checks(
    harness: Callable[..., Harness],
) -> None:
    h = harness(Faults(lose_cmti=True))
    h.registry.add(SHOP, name="Pharmacie du Centre")
    h.start()
    stored_at = h.sim.call(lambda: len(h.sim.modem.commands))
    h.sim.inject_sms(SHOP, "STOP")
    assert h.wait(lambda: (m := h.registry.get(SHOP)) is not None and m.status == "unsubscribed")
    after = commands(h.sim)[stored_at:]
    listed = after.index("AT+CMGL=4")
    assert sum(c in CHECK_COMMANDS for c in after[:listed]) <= 2


def test_a_sim_pulled_out_is_seen_at_once_not_at_the_next_sim_check(
    make_sim: MakeSim, make_modem: MakeModem
) -> None:
    sim = make_sim("quectel-ec25")
    modem, _ = make_modem(sim)
    assert modem.sweep(wait=10)
    sim.call(sim.modem.pull_sim)
    assert eventually(lambda: modem.status.state == "failed")
    assert "NOT INSERTED" in modem.status.detail
