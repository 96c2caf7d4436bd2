"""The AT engine's line discipline: prefixes, prompts, echo, garbage, timeouts, late replies."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modemd.modem.at import AtEngine, LineSplitter, Urc, is_urc, response_prefix
from modemd.modem.errors import CmeError, CmsError, CommandFailed, CommandTimeout
from modemd.modem.transport import PortSettings, open_transport
from modemd.sim.modem import Faults
from modemd.sim.pty import PtySimulator


@pytest.mark.parametrize(
    ("command", "prefix"),
    [
        ('AT+CPMS="SM"', "+CPMS:"),
        ("AT+CREG?", "+CREG:"),
        ("AT+CMGS=23", "+CMGS:"),
        ("AT^CURC=0", "^CURC:"),
        ("ATE0", None),
        ("AT", None),
        ("AT+CGMI", "+CGMI:"),
    ],
)
def test_response_prefix(command: str, prefix: str | None) -> None:
    assert response_prefix(command) == prefix


@pytest.mark.parametrize(
    ("line", "urc"),
    [
        ('+CMTI: "SM",3', True),
        ("+CDS: 25", True),
        ("^RSSI: 18", True),
        ("RING", True),
        ("+QIND: SMS DONE", True),
        ("SMS DONE", True),
        ("OK", False),
        ("+CMGS: 12", False),
        ("E3372", False),
    ],
)
def test_urc_table(line: str, urc: bool) -> None:
    assert is_urc(line) is urc


def test_splitter_one_byte_at_a_time_and_prompt() -> None:
    splitter = LineSplitter()
    stream = b"\r\nOK\r\n\r\n> " + b'\r\n+CMTI: "ME",1\r\n'
    events: list[str | None] = []
    for byte in stream:
        events += splitter.feed(bytes([byte]), prompt_expected=True)
    assert events == ["OK", None, '+CMTI: "ME",1']


def test_splitter_survives_invalid_utf8() -> None:
    splitter = LineSplitter()
    events = splitter.feed(b"\xff\xfe\x00\x80\r\n\xc3(OK\r\n", prompt_expected=False)
    assert events == ["(OK"]
    assert splitter.feed(b"\xffOK\xfe\r\n", prompt_expected=False) == ["OK"]


@pytest.fixture
def engine_on(
    make_sim: Callable[..., PtySimulator],
) -> tuple[Callable[..., tuple[AtEngine, PtySimulator, list[Urc]]], list[AtEngine]]:
    engines: list[AtEngine] = []

    def factory(**sim_options: object) -> tuple[AtEngine, PtySimulator, list[Urc]]:
        sim = make_sim(**sim_options)
        urcs: list[Urc] = []
        engine = AtEngine(open_transport(PortSettings(sim.port)), urcs.append)
        engines.append(engine)
        return engine, sim, urcs

    yield factory, engines  # type: ignore[misc]
    for engine in engines:
        engine.close()


def test_echo_is_not_taken_for_an_answer(engine_on) -> None:  # type: ignore[no-untyped-def]
    factory, _ = engine_on
    engine, sim, _ = factory()
    assert sim.modem.echo  # the generic modem boots with echo on
    assert engine.command("AT+CGMM") == ["GSM-4G Modem"]
    engine.command("ATE0")
    assert engine.command("AT+CGMI") == ["Generic"]


def test_typed_errors_carry_code_and_meaning(engine_on) -> None:  # type: ignore[no-untyped-def]
    factory, _ = engine_on
    engine, _, _ = factory(pin="1234")
    engine.command("AT+CMEE=1")
    with pytest.raises(CmeError) as cme:
        engine.command('AT+CPIN="0000"')
    assert cme.value.code == 16 and cme.value.meaning == "incorrect password"
    assert not cme.value.transient
    with pytest.raises(CmsError) as cms:
        engine.command("AT+CMGL=4")
    assert cms.value.code == 311 and "PIN" in cms.value.meaning
    with pytest.raises(CommandFailed):
        engine.command("AT+NOSUCH")


def test_verbose_errors_are_understood(engine_on) -> None:  # type: ignore[no-untyped-def]
    factory, _ = engine_on
    engine, _, _ = factory(pin="1234")
    engine.command("AT+CMEE=2")
    with pytest.raises(CmeError) as cme:
        engine.command('AT+CPIN="0000"')
    assert cme.value.code == 16


def test_timeout_then_resync_never_misattributes_a_late_reply(engine_on) -> None:  # type: ignore[no-untyped-def]
    factory, _ = engine_on
    engine, _, _ = factory(faults=Faults(late_commands={"AT+CGMI": 1.0}))
    engine.command("ATE0")
    with pytest.raises(CommandTimeout):
        engine.command("AT+CGMI", timeout=0.3)
    # The late "Generic / OK" was dropped during resync: this answer is the model's.
    assert engine.command("AT+CGMM") == ["GSM-4G Modem"]
    assert engine.command("AT+CGSN") == ["866123456789012"]


def test_command_that_never_answers_times_out_and_engine_recovers(engine_on) -> None:  # type: ignore[no-untyped-def]
    factory, _ = engine_on
    engine, _, _ = factory(faults=Faults(hang_commands=("AT+CSQ",)))
    with pytest.raises(CommandTimeout):
        engine.command("AT+CSQ", timeout=0.3)
    assert engine.command("AT+CGMI") == ["Generic"]


def test_urc_inside_response_is_delivered_and_not_mixed_in(engine_on) -> None:  # type: ignore[no-untyped-def]
    factory, _ = engine_on
    engine, _, urcs = factory(profile="huawei-e3372", faults=Faults(urc_inside_response=True))
    engine.command("ATE0")
    assert engine.command("AT+CGMM") == ["E3372"]
    assert any(u.line.startswith("^RSSI") for u in urcs)


def test_registration_answer_is_not_taken_for_a_urc(engine_on) -> None:  # type: ignore[no-untyped-def]
    factory, _ = engine_on
    engine, _, urcs = factory(profile="simcom-sim7600")
    engine.command("ATE0")
    assert engine.command("AT+CREG?") == ["+CREG: 0,1"]
    assert all(u.line != "+CREG: 0,1" for u in urcs)


def test_a_late_marker_is_not_taken_for_the_next_answer(engine_on) -> None:  # type: ignore[no-untyped-def]
    factory, _ = engine_on
    # The first marker is answered after its wait (2 s), the second 0.3 s after that.
    faults = Faults(
        hang_commands=("AT+CGMI",), late_once={"AT+CMEE?": 2.5}, late_commands={"AT+CMEE?": 0.3}
    )
    engine, _, _ = factory(faults=faults)
    engine.command("ATE0")
    with pytest.raises(CommandTimeout):
        engine.command("AT+CGMI", timeout=0.3)  # then resync: its first marker answers late
    assert engine.command("AT+CGMM") == ["GSM-4G Modem"]
    assert engine.command("AT+CGSN") == ["866123456789012"]
