"""The host Modem against the simulated modem over a real pty: every profile, every fault."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modemd.config import AlertsConfig, ModemConfig
from modemd.modem.device import Modem
from modemd.modem.errors import CmsError, ConnectionLost, ModemError, SimError
from modemd.pipeline.compose import AlertText, compose_alert
from modemd.sim.modem import Faults
from modemd.sim.pty import PtySimulator
from modemd.sms.parts import Encoding

from .conftest import ALL_PROFILES, Inbox, eventually

MakeSim = Callable[..., PtySimulator]
MakeModem = Callable[..., tuple[Modem, Inbox]]

THREE_PART_ALERT = AlertText(
    category="escroquerie",
    message=(
        "Faux ordres de virement : un individu se présentant comme le comptable de l'enseigne "
        "appelle les commerçants d'Aurillac et d'Arpajon-sur-Cère pour obtenir un virement "
        "urgent de 4 800 € vers un compte à l'étranger. Il connaît le nom du gérant et "
        "rappelle plusieurs fois. Un second appel a eu lieu à Saint-Flour ce matin."
    ),
    advice="Ne faites aucun virement, vérifiez auprès de votre banque, composez le 17.",
)

FAULT_MODES: dict[str, Callable[[], Faults]] = {
    "clean": Faults,
    "byte-at-a-time": lambda: Faults(byte_at_a_time=True),
    "urc-inside-response": lambda: Faults(urc_inside_response=True),
    "garbage": lambda: Faults(garbage_rate=0.5),
    "cms-errors": lambda: Faults(cms_error_rate=0.3, cms_error_code=42),
}


def send_with_retries(modem: Modem, number: str, text: str, encoding: Encoding) -> None:
    """What a dispatcher does: each part retried on transient errors."""
    for pdu in modem.compose(number, text, encoding, status_report=False):
        for _ in range(50):
            try:
                modem.send_pdu(pdu)
                break
            except ModemError as exc:
                if not exc.transient:
                    raise
                modem.wait_ready(5)
        else:
            raise AssertionError("part never went through")


@pytest.mark.parametrize("fault", sorted(FAULT_MODES))
@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_three_part_french_alert_arrives_intact(
    make_sim: MakeSim, make_modem: MakeModem, profile: str, fault: str
) -> None:
    composition = compose_alert(THREE_PART_ALERT, AlertsConfig())
    assert composition.part_count == 3
    sim = make_sim(profile, FAULT_MODES[fault]())
    modem, _ = make_modem(sim)
    send_with_retries(modem, "+33612345678", composition.text, composition.encoding)
    sent = sim.sent()
    assert [s.recipient for s in sent] == ["+33612345678"] * 3
    assert [s.concat.sequence for s in sent if s.concat] == [1, 2, 3]
    assert len({s.concat.reference for s in sent if s.concat}) == 1
    assert "".join(s.text for s in sent) == composition.text
    assert [s.text for s in sent] == composition.parts


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_burst_of_three_cmti_loses_nothing(
    make_sim: MakeSim, make_modem: MakeModem, profile: str
) -> None:
    sim = make_sim(profile)
    _, inbox = make_modem(sim)

    def burst() -> None:
        for i in range(3):
            sim.modem.inject_sms(f"+3361111111{i}", f"message {i}")

    sim.call(burst)
    assert inbox.wait_for(lambda box: len(box.messages) == 3)
    assert sorted(inbox.texts()) == ["message 0", "message 1", "message 2"]
    assert eventually(lambda: sim.call(sim.modem.stored_count) == 0)  # each deleted after hand-over


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_cmti_in_the_middle_of_cmgs_is_delivered(
    make_sim: MakeSim, make_modem: MakeModem, profile: str
) -> None:
    faults = Faults(inbound_during_send=[("+33622222222", "STOP"), ("+33633333333", "Merci")])
    sim = make_sim(profile, faults)
    modem, inbox = make_modem(sim)
    refs = modem.send_sms("+33612345678", "Alerte test", Encoding.GSM7, status_report=False)
    assert len(refs) == 1
    assert inbox.wait_for(lambda box: len(box.messages) == 2)
    assert sorted(inbox.texts()) == ["Merci", "STOP"]


def test_non_utf8_bytes_are_survived(make_sim: MakeSim, make_modem: MakeModem) -> None:
    sim = make_sim("huawei-e3372")
    modem, inbox = make_modem(sim)
    for _ in range(5):
        sim.call(sim.modem.emit_garbage)
    modem.send_sms("+33612345678", "après le bruit", Encoding.GSM7)
    sim.inject_sms("+33644444444", "toujours là")
    assert inbox.wait_for(lambda box: box.texts() == ["toujours là"])
    assert sim.sent()[-1].text == "après le bruit"


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_unplug_and_replug_resumes_sending(
    make_sim: MakeSim, make_modem: MakeModem, profile: str
) -> None:
    sim = make_sim(profile, send_latency=0.02)
    modem, _ = make_modem(sim)
    numbers = [f"+3361234{i:04d}" for i in range(30)]
    unplugged = threading.Event()

    def pull_and_push() -> None:
        while len(sim.sent()) < 10:
            time.sleep(0.01)
        sim.unplug()
        unplugged.set()
        eventually(lambda: not modem.ready, timeout=10)  # the host has seen the port go
        sim.replug()

    chaos = threading.Thread(target=pull_and_push)
    chaos.start()
    for number in numbers:
        send_with_retries(modem, number, f"alerte pour {number}", Encoding.GSM7)
    chaos.join()
    assert unplugged.is_set()
    received = {s.recipient for s in sim.sent()}
    assert received == set(numbers)
    assert modem.ready and modem.status.state == "ready"


def test_sending_while_unplugged_is_a_transient_error(
    make_sim: MakeSim, make_modem: MakeModem
) -> None:
    sim = make_sim()
    modem, _ = make_modem(sim)
    sim.unplug()
    assert eventually(lambda: not modem.ready)
    with pytest.raises(ConnectionLost) as lost:
        modem.send_sms("+33612345678", "x", Encoding.GSM7)
    assert lost.value.transient
    sim.replug()
    assert modem.wait_ready(5)
    modem.send_sms("+33612345678", "de retour", Encoding.GSM7)
    assert sim.sent()[-1].text == "de retour"


def test_messages_stored_while_down_are_swept_at_start(
    make_sim: MakeSim, make_modem: MakeModem
) -> None:
    sim = make_sim("quectel-ec25")
    sim.inject_sms("+33655555555", "arrivé pendant l'arrêt")
    sim.inject_sms("+33655555556", "Une réponse longue " * 12)  # several parts, all stored
    assert sim.call(sim.modem.stored_count) >= 3
    _, inbox = make_modem(sim)
    assert inbox.wait_for(lambda box: len(box.messages) == 2)
    assert sorted(inbox.texts())[0] == "Une réponse longue " * 12
    assert eventually(lambda: sim.call(sim.modem.stored_count) == 0)


def test_message_kept_on_modem_until_handler_succeeds(
    make_sim: MakeSim, make_modem: MakeModem
) -> None:
    sim = make_sim()
    modem, inbox = make_modem(sim)
    inbox.fail = True
    sim.inject_sms("+33666666666", "ne pas perdre")
    assert eventually(lambda: "AT+CMGR=0" in sim.call(lambda: list(sim.modem.commands)))
    assert sim.call(sim.modem.stored_count) == 1
    modem.stop()
    _, inbox2 = make_modem(sim)  # the next start sweeps it up
    assert inbox2.wait_for(lambda box: box.texts() == ["ne pas perdre"])
    assert eventually(lambda: sim.call(sim.modem.stored_count) == 0)


@pytest.mark.parametrize("bits", [8, 16])
def test_long_inbound_reassembled(make_sim: MakeSim, make_modem: MakeModem, bits: int) -> None:
    sim = make_sim("huawei-e3372")
    _, inbox = make_modem(sim)
    text = "Voiture suspecte garée devant la pharmacie, plaque AB-123-CD. " * 5
    pdus = sim.inject_sms("+33677777777", text, concat_bits=bits)
    assert len(pdus) == 3
    assert inbox.wait_for(lambda box: box.texts() == [text])


def test_ucs2_inbound_with_emoji(make_sim: MakeSim, make_modem: MakeModem) -> None:
    sim = make_sim()
    _, inbox = make_modem(sim)
    text = "Merci 👍 bien reçu, L'Haÿ-les-Roses « vigilance » " * 3
    sim.inject_sms("+33688888888", text, encoding=Encoding.UCS2)
    assert inbox.wait_for(lambda box: box.texts() == [text])
    assert inbox.messages[0].encoding is Encoding.UCS2


def test_direct_cmt_delivery(make_sim: MakeSim, make_modem: MakeModem) -> None:
    sim = make_sim()
    _, inbox = make_modem(sim)
    sim.call(lambda: setattr(sim.modem, "cnmi", [2, 2, 0, 1, 0]))
    sim.inject_sms("+33699999999", "sans stockage")
    assert inbox.wait_for(lambda box: box.texts() == ["sans stockage"])


def test_huawei_announces_me_while_sm_is_read(make_sim: MakeSim, make_modem: MakeModem) -> None:
    sim = make_sim("huawei-e3372")
    _, inbox = make_modem(sim, storage="SM")
    sim.inject_sms("+33611112222", "stocké en ME")
    assert inbox.wait_for(lambda box: box.texts() == ["stocké en ME"])
    assert eventually(lambda: sim.call(sim.modem.stored_count) == 0)


@pytest.mark.parametrize("ds", [1, 2])
def test_status_reports(make_sim: MakeSim, make_modem: MakeModem, ds: int) -> None:
    sim = make_sim()
    modem, inbox = make_modem(sim, delivery_reports=True)
    sim.call(lambda: sim.modem.cnmi.__setitem__(3, ds))  # +CDS pushed, or +CDSI stored
    refs = modem.send_sms("+33612345678", "avec accusé", Encoding.GSM7)
    assert inbox.wait_for(lambda box: len(box.reports) == 1)
    report = inbox.reports[0]
    assert report.reference == refs[0] and report.delivered and report.final
    assert report.recipient == "+33612345678"
    assert eventually(lambda: sim.call(sim.modem.stored_count) == 0)


def test_cms_errors_are_classified(make_sim: MakeSim, make_modem: MakeModem) -> None:
    sim = make_sim(faults=Faults(fail_numbers={"+33600000001": 1}))
    modem, _ = make_modem(sim)
    with pytest.raises(CmsError) as permanent:
        modem.send_sms("+33600000001", "x", Encoding.GSM7)
    assert permanent.value.code == 1 and not permanent.value.transient
    sim.modem.faults.cms_error_rate = 1.0
    with pytest.raises(CmsError) as transient:
        modem.send_sms("+33612345678", "x", Encoding.GSM7)
    assert transient.value.code == 38 and transient.value.transient
    sim.modem.faults.cms_error_rate = 0.0
    modem.send_sms("+33612345678", "ensuite", Encoding.GSM7)  # the queue is not stuck


def test_pin_entered_once_and_never_logged(
    make_sim: MakeSim, make_modem: MakeModem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    sim = make_sim(pin="4321")
    modem, _ = make_modem(sim, pin="4321")
    assert modem.ready
    assert "4321" not in caplog.text
    assert "AT+CPIN=****" in caplog.text


def test_wrong_pin_stops_without_burning_attempts(make_sim: MakeSim, make_modem: MakeModem) -> None:
    sim = make_sim(pin="4321")
    with pytest.raises(SimError, match="rejected the PIN"):
        make_modem(sim, pin="0000")
    assert sim.call(lambda: sim.modem.pin_attempts) == 2


def test_missing_pin_and_puk(make_sim: MakeSim, make_modem: MakeModem) -> None:
    sim = make_sim(pin="4321")
    with pytest.raises(SimError, match=r"set modem\.pin"):
        make_modem(sim)
    sim.call(lambda: setattr(sim.modem, "pin_state", "SIM PUK"))
    with pytest.raises(SimError, match="PUK"):
        make_modem(sim, pin="4321")


def test_missing_smsc_is_set_from_config(make_sim: MakeSim, make_modem: MakeModem) -> None:
    sim = make_sim(smsc=None)
    modem, _ = make_modem(sim, smsc="+33 6 89 00 40 00")
    assert sim.modem.smsc == "+33689004000"
    assert modem.status.smsc == "+33689004000"
    modem.send_sms("+33612345678", "via le centre configuré", Encoding.GSM7)


def test_inbound_is_not_starved_by_back_to_back_sends(
    make_sim: MakeSim, make_modem: MakeModem
) -> None:
    sim = make_sim(send_latency=0.05)
    modem, inbox = make_modem(sim)
    done = threading.Event()

    def fan_out() -> None:
        for i in range(40):
            modem.send_sms(f"+3361000{i:04d}", "alerte", Encoding.GSM7, status_report=False)
        done.set()

    sender = threading.Thread(target=fan_out)
    sender.start()
    assert eventually(lambda: len(sim.sent()) >= 5)
    sim.inject_sms("+33622222222", "STOP")
    assert inbox.wait_for(lambda box: box.texts() == ["STOP"])
    assert len(sim.sent()) < 15 and not done.is_set()  # read between two sends
    sender.join()


def test_a_rejected_pin_is_not_tried_again_after_a_restart(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    sim = make_sim(pin="4321")
    guard = tmp_path / "pin-rejected-modem"
    config = ModemConfig(port=sim.port, pin="0000", command_timeout=2.0)
    for _ in range(3):  # three restarts with the same wrong PIN
        modem = Modem(config, on_sms=lambda m: None, pin_guard=guard)
        with pytest.raises(SimError):
            modem.start()
        modem.stop()
    assert sim.call(lambda: sim.modem.pin_attempts) == 2  # one attempt spent, not three
    assert "0000" not in guard.read_text()
    fixed = Modem(
        ModemConfig(port=sim.port, pin="4321", command_timeout=2.0),
        on_sms=lambda m: None,
        pin_guard=guard,
    )
    fixed.start()  # a corrected PIN is tried, and clears the record
    fixed.stop()
    assert not guard.exists()
