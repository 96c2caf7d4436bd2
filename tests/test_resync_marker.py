"""Resynchronisation on a modem whose firmware refuses the usual marker (``AT+CMEE?``).

Not every firmware implements the read form of every command: a modem that answers ``ERROR``
to the marker is answering, and must neither be declared silent nor fail its bring-up.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modemd.modem.at import AtEngine, Urc
from modemd.modem.device import Modem
from modemd.modem.errors import CommandTimeout
from modemd.modem.transport import PortSettings, open_transport
from modemd.sim.modem import Faults
from modemd.sim.pty import PtySimulator
from modemd.sms.parts import Encoding
from tests.conftest import Inbox

MakeSim = Callable[..., PtySimulator]
MakeModem = Callable[..., tuple[Modem, Inbox]]
REFUSES_MARKER = ("AT+CMEE?",)


def test_modem_refusing_the_marker_comes_up_and_sends(
    make_sim: MakeSim, make_modem: MakeModem
) -> None:
    sim = make_sim(faults=Faults(refuse_commands=REFUSES_MARKER))
    modem, _ = make_modem(sim)
    assert modem.ready
    modem.send_sms("+33612345678", "Vol signalé rue de la Gare.", Encoding.GSM7)
    assert [s.text for s in sim.sent()] == ["Vol signalé rue de la Gare."]


def test_resync_after_a_timeout_on_a_modem_refusing_the_marker(
    make_sim: MakeSim,
) -> None:
    sim = make_sim(faults=Faults(refuse_commands=REFUSES_MARKER, late_once={"AT+CGMI": 1.0}))
    urcs: list[Urc] = []
    engine = AtEngine(open_transport(PortSettings(sim.port)), urcs.append)
    try:
        engine.command("ATE0")
        with pytest.raises(CommandTimeout):
            engine.command("AT+CGMI", timeout=0.3)
        # The late "Generic / OK" must not be taken for these answers.
        assert engine.command("AT+CGMM") == ["GSM-4G Modem"]
        assert engine.command("AT+CGSN") == ["866123456789012"]
    finally:
        engine.close()


@pytest.mark.parametrize("profile", ["huawei-e3372", "quectel-ec25"])
def test_each_profile_comes_up_when_the_marker_is_refused(
    make_sim: MakeSim, make_modem: MakeModem, profile: str
) -> None:
    sim = make_sim(profile, faults=Faults(refuse_commands=REFUSES_MARKER))
    modem, _ = make_modem(sim, profile=profile)
    assert modem.ready and modem.status.profile == profile
