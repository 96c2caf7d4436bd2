"""No inbound SMS is ever dropped: a PDU that does not decode strictly is decoded as far as it
can be, flagged, and acted upon (a STOP still unsubscribes); one that cannot be decoded at all
still reaches the operators, with its raw PDU and whatever sender could be read, before it
leaves the SIM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modemd.config import DEFAULT_REPLIES
from modemd.sim.pty import PtySimulator
from modemd.sms import gsm7
from modemd.sms.parts import Encoding
from modemd.sms.pdu import CodecError, decode_deliver, encode_deliver, read_sender
from modemd.testing import Harness

MakeSim = Callable[..., PtySimulator]
SHOP = "+33612345678"
TS = datetime(2026, 4, 12, 14, 30, tzinfo=UTC)
SMSC = "07913306091093F0"  # +33609001390
# First octet, TP-OA (+33612345678), TP-PID, then TP-DCS, TP-SCTS.
HEAD = "04" + "0B913316325476F8" + "00"
SCTS = "62402141030000"


def gsm7_stop() -> str:
    (pdu,) = encode_deliver(SHOP, "STOP", Encoding.GSM7, timestamp=TS)
    return pdu


def packed(text: str) -> str:
    return gsm7.pack_septets(gsm7.encode_septets(text)).hex().upper()


def ucs2(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


# Each: a STOP whose PDU breaks one rule of 3GPP TS 23.040, and what is wrong with it.
DAMAGED_STOPS = {
    "trailing octets": gsm7_stop() + "FFFF",
    "user data shorter than its length": SMSC + HEAD + "00" + SCTS + "09" + packed("STOP"),
    "information element overruns the header": SMSC
    + "44"
    + HEAD[2:]
    + "08"
    + SCTS
    + "0E"
    + "0500040102"
    + "01"
    + ucs2("STOP"),
    "header longer than the user data": SMSC
    + "44"
    + HEAD[2:]
    + "00"
    + SCTS
    + "04"
    + packed("STOP"),
}
# Cut inside the timestamp: no text at all, but the sender can still be read.
UNDECODABLE = SMSC + HEAD + "00" + SCTS[:6]


@pytest.mark.parametrize("damage", sorted(DAMAGED_STOPS))
def test_strict_decoding_refuses_and_tolerant_decoding_flags(damage: str) -> None:
    pdu = DAMAGED_STOPS[damage]
    with pytest.raises(CodecError):
        decode_deliver(pdu)
    message = decode_deliver(pdu, tolerant=True)
    assert (message.sender, message.text) == (SHOP, "STOP")
    assert message.damage  # says what was wrong
    assert message.pdu == pdu


def test_a_well_formed_pdu_is_not_flagged() -> None:
    message = decode_deliver(gsm7_stop(), tolerant=True)
    assert (message.text, message.damage, message.pdu) == ("STOP", None, None)


def test_sender_read_from_a_pdu_cut_short() -> None:
    with pytest.raises(CodecError):
        decode_deliver(UNDECODABLE, tolerant=True)
    assert read_sender(UNDECODABLE) == SHOP
    assert read_sender(SMSC + "040B9133") is None  # cut inside the address
    assert read_sender("zz") is None


@pytest.fixture
def harness(tmp_path: Path, make_sim: MakeSim) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory() -> Harness:
        h = Harness(tmp_path / f"h{len(made)}", make_sim("huawei-e3372"))
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


def replies_to(h: Harness, phone: str) -> list[str]:
    return [s.text for s in h.sim.sent() if s.recipient == phone]


@pytest.mark.parametrize("damage", sorted(DAMAGED_STOPS))
def test_stop_in_a_damaged_pdu_unsubscribes(harness: Callable[..., Harness], damage: str) -> None:
    h = harness()
    h.registry.add(SHOP, name="Tabac de la Gare")
    h.start()
    h.sim.call(lambda: h.sim.modem.inject_pdu(DAMAGED_STOPS[damage]))
    assert h.wait(lambda: (m := h.registry.get(SHOP)) is not None and m.status == "unsubscribed")
    assert h.wait(lambda: replies_to(h, SHOP) == [DEFAULT_REPLIES["stop"]])


def test_damaged_free_text_reaches_incoming_flagged(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.start()
    text = "Scooter noir rue Victor-Hugo"
    (good,) = encode_deliver(SHOP, text, Encoding.GSM7, timestamp=TS)
    pdu = good + "00"
    h.sim.call(lambda: h.sim.modem.inject_pdu(pdu))
    assert h.wait(lambda: len(h.folder("incoming")) == 1)
    content = (h.config.spool_dir / "incoming" / h.folder("incoming")[0]).read_text()
    head, _, body = content.partition("\n\n")
    assert f"From: {SHOP}" in head.splitlines()
    assert any(line.startswith("Damaged: ") for line in head.splitlines())
    assert f"PDU: {pdu}" in head.splitlines()
    assert body.strip() == text


def test_undecodable_pdu_reaches_operators_before_it_leaves_the_sim(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.start()
    h.sim.call(lambda: h.sim.modem.inject_pdu(UNDECODABLE))
    # Once the SIM no longer holds it, the operators' copy must already be there.
    assert h.wait(lambda: h.sim.call(h.sim.modem.stored_count) == 0)
    assert len(h.folder("incoming")) == 1
    content = (h.config.spool_dir / "incoming" / h.folder("incoming")[0]).read_text()
    head = content.partition("\n\n")[0].splitlines()
    assert f"From: {SHOP}" in head
    assert f"PDU: {UNDECODABLE}" in head
