"""The length of an alphanumeric address says exactly how many septets it holds
(3GPP TS 23.040 9.1.2.5: useful semi-octets), so an 8-character name ending in '@' (septet
0) keeps its '@'."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modemd.sms import gsm7
from modemd.sms.parts import Encoding
from modemd.sms.pdu import decode_deliver, encode_deliver

TS = datetime(2026, 4, 12, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize("name", ["ABCDEFG@", "ABCDEFGHIJ@", "INFO@SMS", "ALERTE@", "A@"])
def test_alphanumeric_sender_round_trip_keeps_a_final_at(name: str) -> None:
    (pdu,) = encode_deliver(name, "x", Encoding.GSM7, timestamp=TS)
    assert decode_deliver(pdu).sender == name


def test_fourteen_semi_octets_are_eight_septets() -> None:
    # 8 septets fill exactly 7 octets: 56 bits, 14 semi-octets, and the 8th septet is '@'.
    name = gsm7.pack_septets(gsm7.encode_septets("ABCDEFG@")).hex().upper()
    pdu = "00" + "04" + "0ED0" + name + "0000" + "42506070809000" + "0161"
    assert decode_deliver(pdu).sender == "ABCDEFG@"


def test_seven_letters_declared_in_thirteen_semi_octets() -> None:
    name = gsm7.pack_septets(gsm7.encode_septets("AMELIFR")).hex().upper()
    pdu = "00" + "04" + "0DD0" + name + "0000" + "42506070809000" + "0161"
    assert decode_deliver(pdu).sender == "AMELIFR"
