"""PDU codec: gammu-generated vectors, edge cases, round trips, malformed input."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.sms import gsm7
from modemd.sms.parts import Encoding
from modemd.sms.pdu import (
    CodecError,
    Concat,
    Deliver,
    StatusReport,
    Submit,
    SubmitPdu,
    UnsupportedPdu,
    decode_deliver,
    decode_pdu,
    decode_status_report,
    decode_submit,
    encode_deliver,
    encode_status_report,
    encode_submit,
    relative_validity,
    tpdu_length,
    validity_from_relative,
)

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "vectors" / "gammu_pdus.json").read_text(encoding="utf-8")
)["cases"]
GSM_CHARS = [c for c in gsm7.BASIC if c != "\x1b"] + list(gsm7.EXTENSION)
TS = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
SMSC = "+33609001390"


def cases(*kinds: str, compare: tuple[str, ...] = ()) -> list[Any]:
    return [
        pytest.param(c, id=c["name"])
        for c in VECTORS
        if c["kind"] in kinds and (not compare or c["compare"] in compare)
    ]


def strip_smsc(hex_pdu: str) -> str:
    data = bytes.fromhex(hex_pdu)
    return data[1 + data[0] :].hex().upper()


def our_submit(case: dict[str, Any]) -> list[SubmitPdu]:
    minutes = case["validity_minutes"]
    return encode_submit(
        case["recipient"],
        case["text"],
        Encoding(case["coding"]),
        smsc=case["smsc"],
        status_report=case["status_report"],
        validity=timedelta(minutes=minutes) if minutes else None,
        reference=case["reference"],
        concat_reference=case["concat_reference"],
        concat_bits=case["concat_bits"],
    )


def our_deliver(case: dict[str, Any]) -> list[str]:
    return encode_deliver(
        case["sender"],
        case["text"],
        Encoding(case["coding"]),
        timestamp=datetime.fromisoformat(case["timestamp"]),
        smsc=case["smsc"],
        concat_reference=case["concat_reference"],
        concat_bits=case["concat_bits"],
    )


def digits_of(number: str) -> str:
    return "".join(c for c in number if c.isdigit() or c == "+")


def gammu_validity(octet: int) -> str:
    """python-gammu's spelling of a relative TP-VP octet."""
    if octet == 255:
        return "Max"
    if octet <= 167:
        return f"{int(validity_from_relative(octet).total_seconds()) // 60}M"
    if octet <= 196:
        return f"{octet - 166}D"
    return f"{octet - 192}W"


def check_gammu_parts(case: dict[str, Any], decoded: list[dict[str, Any]]) -> None:
    """gammu's decode of a list of PDUs matches the case's text and concatenation."""
    assert "".join(d["text"] for d in decoded) == case["text"]
    total = len(decoded)
    for seq, d in enumerate(decoded, 1):
        if total == 1:
            assert d["udh_type"] == "NoUDH"
            continue
        if case["concat_bits"] == 16:
            assert d["udh_type"] == "ConcatenatedMessages16bit"
            assert d["udh_id16"] == case["concat_reference"]
        else:
            assert d["udh_type"] == "ConcatenatedMessages"
            assert d["udh_id8"] == case["concat_reference"]
        assert (d["udh_part"], d["udh_all"]) == (seq, total)


def check_our_parts(case: dict[str, Any], decoded: list[Deliver] | list[Submit]) -> None:
    """Our decode of a list of PDUs matches the case's text and concatenation."""
    assert "".join(d.text for d in decoded) == case["text"]
    total = len(decoded)
    for seq, d in enumerate(decoded, 1):
        assert d.encoding is Encoding(case["coding"])
        if total == 1:
            assert d.concat is None
        else:
            assert d.concat == Concat(case["concat_reference"], total, seq, case["concat_bits"])


# ---------------------------------------------------------------------------
# Known-good vectors from gammu (tests/vectors/make_vectors.py)


def test_vectors_cover_the_required_cases() -> None:
    names = {c["name"] for c in VECTORS}
    for required in [
        "plain_ascii", "french_accents", "extension_chars", "section_sign", "backtick_ucs2",
        "lhay_les_roses_ucs2", "emoji_ucs2", "at_end_8_septets", "multipart_3_euro_boundary",
        "multipart_ucs2_2_parts", "status_report_request", "validity_1d", "deliver_gsm7",
        "deliver_alnum_8", "deliver_multipart_16bit", "public_deliver_hellohello",
    ]:  # fmt: skip
        assert required in names
    euro = next(c for c in VECTORS if c["name"] == "multipart_3_euro_boundary")
    assert len(euro["pdus"]) == 3


@pytest.mark.parametrize("case", cases("submit", compare=("hex", "tpdu")))
def test_submit_bytes_equal_gammu(case: dict[str, Any]) -> None:
    ours = our_submit(case)
    if case["compare"] == "hex":
        assert [p.hex for p in ours] == [h.upper() for h in case["pdus"]]
    else:
        assert [strip_smsc(p.hex) for p in ours] == [strip_smsc(h) for h in case["pdus"]]
    assert [p.tpdu_length for p in ours] == case["tpdu_lengths"]


@pytest.mark.parametrize("case", cases("deliver", compare=("hex",)))
def test_deliver_bytes_equal_gammu(case: dict[str, Any]) -> None:
    assert our_deliver(case) == [h.upper() for h in case["pdus"]]


@pytest.mark.parametrize("case", cases("submit"))
def test_submit_recorded_output_is_current(case: dict[str, Any]) -> None:
    # gammu_decode_of_ours was computed on these bytes: they must still be ours.
    ours = our_submit(case)
    assert [p.hex for p in ours] == case["ours"]
    assert [p.tpdu_length for p in ours] == case["ours_tpdu_lengths"]
    assert [tpdu_length(p.hex) for p in ours] == case["ours_tpdu_lengths"]


@pytest.mark.parametrize("case", cases("deliver"))
def test_deliver_recorded_output_is_current(case: dict[str, Any]) -> None:
    assert our_deliver(case) == case["ours"]


@pytest.mark.parametrize("case", cases("submit"))
def test_gammu_decodes_our_submit(case: dict[str, Any]) -> None:
    decoded = case["gammu_decode_of_ours"]
    check_gammu_parts(case, decoded)
    for d in decoded:
        # python-gammu's decode does not expose TP-SRR; the "hex" cases check it.
        assert d["type"] == "Submit"
        assert d["number"] == digits_of(case["recipient"])
        assert d["smsc"] == (case["smsc"] or "")
        assert d["message_reference"] == case["reference"]
        minutes = case["validity_minutes"]
        expected = "NA"
        if minutes:
            expected = gammu_validity(relative_validity(timedelta(minutes=minutes)))
        assert d["validity"] == expected
        assert (
            d["coding"]
            == {"gsm7": "Default_No_Compression", "ucs2": "Unicode_No_Compression"}[case["coding"]]
        )


@pytest.mark.parametrize("case", cases("submit"))
def test_we_decode_gammu_submit(case: dict[str, Any]) -> None:
    decoded = [decode_submit(h) for h in case["pdus"]]
    check_our_parts(case, decoded)
    # gammu always writes a relative validity, "Max" when none was asked.
    minutes = case["validity_minutes"] or 63 * 7 * 24 * 60
    for ours, theirs in zip(decoded, case["gammu_decode"], strict=True):
        assert ours.text == theirs["text"]
        assert ours.recipient == digits_of(case["gammu_decode"][0]["number"])
        assert ours.reference == case["reference"]
        assert ours.status_report_requested is case["status_report"]
        assert ours.validity == timedelta(minutes=minutes)


@pytest.mark.parametrize("case", cases("deliver"))
def test_gammu_decodes_our_deliver(case: dict[str, Any]) -> None:
    decoded = case["gammu_decode_of_ours"]
    check_gammu_parts(case, decoded)
    for d in decoded:
        assert d["type"] == "Deliver"
        assert d["number"] == case["sender"]
        assert d["smsc"] == case["smsc"]
        # gammu ignores the zone; our timestamps are UTC (generator deviation 3).
        assert (
            d["timestamp"]
            == datetime.fromisoformat(case["timestamp"]).replace(tzinfo=None).isoformat()
        )


@pytest.mark.parametrize("case", cases("deliver"))
def test_we_decode_gammu_deliver(case: dict[str, Any]) -> None:
    decoded = [decode_deliver(h) for h in case["pdus"]]
    check_our_parts(case, decoded)
    for ours, theirs in zip(decoded, case["gammu_decode"], strict=True):
        assert ours.text == theirs["text"]
        assert ours.sender == case["sender"]
        assert ours.smsc == case["smsc"]
        assert ours.timestamp == datetime.fromisoformat(case["timestamp"])


@pytest.mark.parametrize("case", cases("status_report"))
def test_gammu_decodes_our_status_report(case: dict[str, Any]) -> None:
    scts = datetime.fromisoformat(case["scts"])
    discharge = datetime.fromisoformat(case["discharge"])
    ours = encode_status_report(
        case["reference"], case["recipient"], case["status"], scts=scts, discharge=discharge
    )
    assert [ours] == case["ours"]
    (g,) = case["gammu_decode_of_ours"]
    assert g["type"] == "Status_Report"
    assert g["number"] == case["recipient"]
    assert g["message_reference"] == case["reference"]
    assert g["status"] == case["status"]
    assert g["scts"] == scts.replace(tzinfo=None).isoformat()
    assert g["discharge"] == discharge.replace(tzinfo=None).isoformat()
    report = decode_status_report(ours)
    assert report == StatusReport(
        case["reference"], case["recipient"], scts, discharge, case["status"]
    )


@pytest.mark.parametrize("case", cases("public"))
def test_public_pdus(case: dict[str, Any]) -> None:
    expect = case["expect"]
    (hex_pdu,) = case["pdus"]
    (g,) = case["gammu_decode"]
    msg = decode_pdu(hex_pdu)
    if expect["type"] == "deliver":
        assert isinstance(msg, Deliver)
        assert (msg.sender, msg.text, msg.smsc) == (
            expect["sender"],
            expect["text"],
            expect["smsc"],
        )
        assert msg.timestamp == datetime.fromisoformat(expect["timestamp"])
        assert (g["number"], g["text"], g["smsc"]) == (msg.sender, msg.text, msg.smsc)
    elif expect["type"] == "submit":
        assert isinstance(msg, Submit)
        assert (msg.recipient, msg.text, msg.reference) == (
            expect["recipient"],
            expect["text"],
            expect["reference"],
        )
        assert msg.validity == timedelta(minutes=expect["validity_minutes"])
        assert (g["number"], g["text"]) == (msg.recipient, msg.text)
    else:
        assert isinstance(msg, StatusReport)
        assert msg.recipient == expect["recipient"]
        assert (msg.reference, msg.status) == (expect["reference"], expect["status"])
        assert msg.scts == datetime.fromisoformat(expect["scts"])
        assert msg.discharge == datetime.fromisoformat(expect["discharge"])
        assert (g["number"], g["message_reference"], g["status"]) == (
            msg.recipient,
            msg.reference,
            msg.status,
        )


# ---------------------------------------------------------------------------
# Explicit edge cases


class TestSubmitEncoding:
    def test_plain(self) -> None:
        (pdu,) = encode_submit("+33612345678", "hellohello", Encoding.GSM7)
        assert pdu == SubmitPdu("0001000B913316325476F800000AE8329BFD4697D9EC37", 22)
        assert tpdu_length(pdu.hex) == 22

    def test_smsc_prefix(self) -> None:
        (pdu,) = encode_submit("+33612345678", "x", Encoding.GSM7, smsc="+33 6 09 00 13 90")
        assert pdu.hex.startswith("07913306091093F0" + "01")
        assert pdu.tpdu_length == len(pdu.hex) // 2 - 8

    @pytest.mark.parametrize(
        ("recipient", "address"),
        [
            ("06 12 34 56 78", "0A816021436587"),
            ("0612345678", "0A816021436587"),
            ("06.12.34.56.78", "0A816021436587"),
            ("(06) 12-34-56-78", "0A816021436587"),
            ("+33 6 12 34 56 78", "0B913316325476F8"),
            ("+33612345678", "0B913316325476F8"),
            ("36180", "05816381F0"),
        ],
    )
    def test_recipient_forms(self, recipient: str, address: str) -> None:
        (pdu,) = encode_submit(recipient, "x", Encoding.GSM7)
        assert pdu.hex[6:].startswith(address)
        assert decode_submit(pdu.hex).recipient == recipient.replace(" ", "").replace(
            ".", ""
        ).replace("-", "").replace("(", "").replace(")", "")

    @pytest.mark.parametrize(
        "recipient", ["", "+", "06 12 AB", "++33612", "33+6", "#31#0612", "1" * 21]
    )
    def test_bad_recipient(self, recipient: str) -> None:
        with pytest.raises(CodecError, match="invalid recipient number"):
            encode_submit(recipient, "x", Encoding.GSM7)

    def test_bad_smsc(self) -> None:
        with pytest.raises(CodecError, match="invalid SMSC number"):
            encode_submit("+33612345678", "x", Encoding.GSM7, smsc="SMSC")

    def test_gsm7_rejects_non_gsm7_naming_character(self) -> None:
        with pytest.raises(CodecError, match="'`'"):
            encode_submit("+33612345678", "a`b", Encoding.GSM7)

    def test_ucs2_rejects_lone_surrogate(self) -> None:
        with pytest.raises(CodecError, match="UCS-2"):
            encode_submit("+33612345678", "a\ud83d", Encoding.UCS2)

    def test_multipart_requires_concat_reference(self) -> None:
        with pytest.raises(
            ValueError, match="concat_reference is required: the text needs 2 parts"
        ):
            encode_submit("+33612345678", "a" * 161, Encoding.GSM7)

    def test_concat_reference_range(self) -> None:
        with pytest.raises(ValueError, match=r"out of range 0\.\.255"):
            encode_submit("+33612345678", "a" * 161, Encoding.GSM7, concat_reference=256)
        pdus = encode_submit(
            "+33612345678", "a" * 161, Encoding.GSM7, concat_reference=0xABCD, concat_bits=16
        )
        assert [decode_submit(p.hex).concat for p in pdus] == [
            Concat(0xABCD, 2, 1, 16),
            Concat(0xABCD, 2, 2, 16),
        ]
        with pytest.raises(ValueError, match="8 or 16"):
            encode_submit("+33612345678", "a", Encoding.GSM7, concat_bits=12)

    def test_reference_range(self) -> None:
        with pytest.raises(ValueError, match="TP-MR"):
            encode_submit("+33612345678", "x", Encoding.GSM7, reference=256)

    def test_too_many_parts(self) -> None:
        with pytest.raises(CodecError, match="at most 255"):
            encode_submit("+33612345678", "a" * 153 * 256, Encoding.GSM7, concat_reference=1)

    def test_flags(self) -> None:
        (pdu,) = encode_submit(
            "+33612345678",
            "x",
            Encoding.GSM7,
            status_report=True,
            validity=timedelta(days=1),
            reference=0x2A,
        )
        assert pdu.hex[2:6] == "312A"  # SUBMIT | VPF relative | SRR, TP-MR 42
        sub = decode_submit(pdu.hex)
        assert sub.status_report_requested
        assert sub.validity == timedelta(days=1)
        assert sub.reference == 42

    def test_empty_text(self) -> None:
        (pdu,) = encode_submit("+33612345678", "", Encoding.GSM7)
        assert pdu.hex.endswith("000000")  # PID, DCS, UDL 0
        assert decode_submit(pdu.hex).text == ""

    def test_section_sign_and_backtick(self) -> None:
        (pdu,) = encode_submit("+33612345678", "§", Encoding.GSM7)
        assert decode_submit(pdu.hex).text == "§"
        (pdu,) = encode_submit("+33612345678", "`§`", Encoding.UCS2)
        assert pdu.hex.endswith("0008" + "06" + "006000A70060")
        assert decode_submit(pdu.hex).text == "`§`"

    def test_lhay_les_roses_ucs2(self) -> None:
        (pdu,) = encode_submit("+33612345678", "L'Haÿ-les-Roses", Encoding.UCS2)
        assert "006100FF002D" in pdu.hex
        assert decode_submit(pdu.hex).text == "L'Haÿ-les-Roses"

    def test_emoji_surrogate_pair(self) -> None:
        (pdu,) = encode_submit("+33612345678", "😀", Encoding.UCS2)
        assert pdu.hex.endswith("04D83DDE00")
        assert decode_submit(pdu.hex).text == "😀"

    @pytest.mark.parametrize("text", ["Bonjour@", "@" * 8, "Alerte vol rues@", "a" * 159 + "@"])
    def test_8n_septets_ending_in_at(self, text: str) -> None:
        (pdu,) = encode_submit("+33612345678", text, Encoding.GSM7)
        assert decode_submit(pdu.hex).text == text

    @pytest.mark.parametrize("text", ["Alerte!", "Alerte@", "a" * 15])
    def test_8n_minus_1_septets_get_no_extra_at(self, text: str) -> None:
        (pdu,) = encode_submit("+33612345678", text, Encoding.GSM7)
        assert decode_submit(pdu.hex).text == text

    def test_at_sign_at_udh_boundaries(self) -> None:
        # Parts of 153 septets after a 6-octet UDH + 1 fill bit: 160 septets.
        text = "@" * 153 + "@" * 7 + "x"
        pdus = encode_submit("+33612345678", text, Encoding.GSM7, concat_reference=5)
        assert "".join(decode_submit(p.hex).text for p in pdus) == text

    def test_euro_at_part_boundary(self) -> None:
        text = "a" * 152 + "€" + "b" * 200
        pdus = encode_submit("+33612345678", text, Encoding.GSM7, concat_reference=0x42)
        parts = [decode_submit(p.hex) for p in pdus]
        assert [p.text for p in parts] == ["a" * 152, "€" + "b" * 151, "b" * 49]
        assert [p.concat for p in parts] == [Concat(0x42, 3, i, 8) for i in (1, 2, 3)]
        # The first part ends before the escape: no dangling 0x1B.
        assert "1B" not in pdus[0].hex[-4:]

    def test_gsm7_udh_uses_fill_bits(self) -> None:
        pdus = encode_submit("+33612345678", "A" * 161, Encoding.GSM7, concat_reference=1)
        ud = bytes.fromhex(pdus[1].hex)[-(1 + 6 + 8) :]  # UDL + UDH + 8 septets (7 octets)
        assert ud[0] == 7 + 8  # 7 septets of header+fill, then the text
        assert ud[1:7] == bytes([5, 0, 3, 1, 2, 2])
        # 1 fill bit: "A" (0x41) starts at bit 1 of the first octet after the UDH.
        assert ud[7] == (0x41 << 1) & 0xFF


class TestValidity:
    @pytest.mark.parametrize(
        ("duration", "octet"),
        [
            (timedelta(seconds=1), 0),
            (timedelta(minutes=5), 0),
            (timedelta(minutes=5, seconds=1), 1),
            (timedelta(hours=1), 11),
            (timedelta(hours=12), 143),
            (timedelta(hours=12, minutes=1), 144),
            (timedelta(hours=24), 167),
            (timedelta(hours=24, minutes=1), 168),
            (timedelta(days=2), 168),
            (timedelta(days=30), 196),
            (timedelta(days=30, minutes=1), 197),
            (timedelta(weeks=5), 197),
            (timedelta(weeks=5, days=1), 198),
            (timedelta(weeks=63), 255),
            (timedelta(weeks=100), 255),
        ],
    )
    def test_relative_encoding_rounds_up(self, duration: timedelta, octet: int) -> None:
        assert relative_validity(duration) == octet

    def test_non_positive(self) -> None:
        with pytest.raises(ValueError, match="positive"):
            relative_validity(timedelta(0))

    def test_decode_table(self) -> None:
        assert validity_from_relative(0) == timedelta(minutes=5)
        assert validity_from_relative(143) == timedelta(hours=12)
        assert validity_from_relative(144) == timedelta(hours=12, minutes=30)
        assert validity_from_relative(167) == timedelta(hours=24)
        assert validity_from_relative(168) == timedelta(days=2)
        assert validity_from_relative(196) == timedelta(days=30)
        assert validity_from_relative(197) == timedelta(weeks=5)
        assert validity_from_relative(255) == timedelta(weeks=63)
        with pytest.raises(ValueError):
            validity_from_relative(256)

    @given(st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(weeks=63)))
    def test_never_shorter_than_asked(self, duration: timedelta) -> None:
        octet = relative_validity(duration)
        assert validity_from_relative(octet) >= duration
        assert octet == 0 or validity_from_relative(octet - 1) < duration

    def test_enhanced_and_absolute_formats_decode(self) -> None:
        body = "0B913316325476F80000"  # DA, PID, DCS
        ud = "01" + "61"
        # Enhanced (VPF 01): relative-seconds form, 30 s.
        assert decode_submit("00" + "0900" + body + "021E0000000000" + ud).validity == timedelta(
            seconds=30
        )
        # Enhanced: relative form with a TP-VP-like octet (0x0B = 1 hour).
        assert decode_submit("00" + "0900" + body + "010B0000000000" + ud).validity == timedelta(
            hours=1
        )
        # Enhanced: semi-octet hh mm ss = 01:30:00.
        assert decode_submit("00" + "0900" + body + "03100300000000" + ud).validity == timedelta(
            hours=1, minutes=30
        )
        # Absolute (VPF 11): a date; skipped, the text still decodes.
        sub = decode_submit("00" + "1900" + body + "42506070809000" + ud)
        assert (sub.validity, sub.text) == (None, "a")


class TestDeliver:
    def test_alphanumeric_sender(self) -> None:
        (pdu,) = encode_deliver("ORANGE", "Bienvenue", Encoding.GSM7, timestamp=TS)
        assert pdu[18:22] == "0BD0"  # 11 useful semi-octets, TON alphanumeric
        msg = decode_deliver(pdu)
        assert (msg.sender, msg.text) == ("ORANGE", "Bienvenue")

    def test_alphanumeric_with_space_and_max_length(self) -> None:
        for name in ["INFO SMS", "ABCDEFGHIJK"]:
            (pdu,) = encode_deliver(name, "x", Encoding.GSM7, timestamp=TS)
            assert decode_deliver(pdu).sender == name

    def test_alphanumeric_length_is_taken_at_its_word(self) -> None:
        # 14 semi-octets are 8 septets (56 bits), even when the 8th is 0: an "@".
        name = gsm7.pack_septets(gsm7.encode_septets("AMELIFR")).hex().upper()
        pdu = "00" + "04" + "0ED0" + name + "0000" + "42506070809000" + "0161"
        assert decode_deliver(pdu).sender == "AMELIFR@"

    def test_bad_alphanumeric(self) -> None:
        with pytest.raises(CodecError, match="1 to 11"):
            encode_deliver("ABCDEFGHIJKL", "x", Encoding.GSM7, timestamp=TS)
        with pytest.raises(CodecError, match="alphanumeric sender"):
            encode_deliver("ça va", "x", Encoding.GSM7, timestamp=TS)

    def test_short_code_odd_length(self) -> None:
        (pdu,) = encode_deliver("36180", "x", Encoding.GSM7, timestamp=TS, smsc=None)
        assert pdu.startswith("00" + "04" + "05816381F0")
        assert decode_deliver(pdu).sender == "36180"
        assert decode_deliver(pdu).smsc is None

    def test_no_smsc_decoding(self) -> None:
        (pdu,) = encode_deliver("+33612345678", "x", Encoding.GSM7, timestamp=TS)
        msg = decode_deliver(pdu[16:], has_smsc=False)
        assert (msg.smsc, msg.text) == (None, "x")

    @pytest.mark.parametrize(
        "offset",
        [timedelta(0), timedelta(hours=2), timedelta(hours=-3), timedelta(hours=5, minutes=45),
         timedelta(hours=-9, minutes=-30), timedelta(hours=14)],
    )  # fmt: skip
    def test_timestamp_time_zones(self, offset: timedelta) -> None:
        ts = datetime(2031, 12, 31, 23, 59, 58, tzinfo=timezone(offset))
        (pdu,) = encode_deliver("+33612345678", "x", Encoding.GSM7, timestamp=ts)
        got = decode_deliver(pdu).timestamp
        assert got == ts
        assert got.utcoffset() == offset

    def test_time_zone_sign_bit_in_tens_digit(self) -> None:
        ts = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-7)))
        (pdu,) = encode_deliver("+33612345678", "x", Encoding.GSM7, timestamp=ts, smsc=None)
        assert pdu.endswith("4250607080908A" + "0178")  # -28 quarters: "82" | sign 0x08
        ts = ts.replace(tzinfo=timezone(timedelta(hours=1)))
        (pdu,) = encode_deliver("+33612345678", "x", Encoding.GSM7, timestamp=ts, smsc=None)
        assert pdu.endswith("42506070809040" + "0178")  # +4 quarters

    def test_naive_timestamp_is_utc(self) -> None:
        (pdu,) = encode_deliver("+1", "x", Encoding.GSM7, timestamp=datetime(2024, 1, 2, 3, 4, 5))
        assert decode_deliver(pdu).timestamp == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

    def test_unencodable_timestamps(self) -> None:
        with pytest.raises(CodecError, match="multiple of 15 minutes"):
            encode_deliver(
                "+1",
                "x",
                Encoding.GSM7,
                timestamp=TS.replace(tzinfo=timezone(timedelta(minutes=7))),
            )
        with pytest.raises(CodecError, match="year 1999"):
            encode_deliver("+1", "x", Encoding.GSM7, timestamp=TS.replace(year=1999))

    def test_eight_bit_data(self) -> None:
        pdu = "00" + "04" + "0B913316325476F8" + "00" + "04" + "42506070809000" + "03" + "00FF41"
        msg = decode_deliver(pdu)
        assert (msg.encoding, msg.data, msg.text) == (None, b"\x00\xffA", "")
        pdu = pdu[:-8] + "03" + "E94142"  # printable latin-1
        msg = decode_deliver(pdu)
        assert (msg.encoding, msg.data, msg.text) == (None, b"\xe9AB", "éAB")
        pdu = pdu[:-8] + "02" + "4142"
        assert decode_deliver(pdu.replace("0004425", "00F4425")).data == b"AB"  # class group

    @pytest.mark.parametrize(
        ("dcs", "encoding"),
        [
            ("00", Encoding.GSM7),
            ("10", Encoding.GSM7),  # class 0 (flash)
            ("11", Encoding.GSM7),
            ("0C", Encoding.GSM7),  # reserved alphabet: assumed GSM-7
            ("40", Encoding.GSM7),  # automatic deletion group
            ("C0", Encoding.GSM7),  # message waiting, discard
            ("D8", Encoding.GSM7),  # message waiting, store
            ("F0", Encoding.GSM7),
            ("F1", Encoding.GSM7),
            ("80", Encoding.GSM7),  # reserved group
        ],
    )
    def test_dcs_gsm7_variants(self, dcs: str, encoding: Encoding) -> None:
        pdu = (
            "00"
            + "04"
            + "0B913316325476F8"
            + "00"
            + dcs
            + "42506070809000"
            + "0AE8329BFD4697D9EC37"
        )
        msg = decode_deliver(pdu)
        assert (msg.text, msg.encoding) == ("hellohello", encoding)

    @pytest.mark.parametrize("dcs", ["08", "18", "48", "E0", "E8"])
    def test_dcs_ucs2_variants(self, dcs: str) -> None:
        pdu = "00" + "04" + "0B913316325476F8" + "00" + dcs + "42506070809000" + "04" + "00E9D83D"
        msg = decode_deliver(pdu)
        assert msg.encoding is Encoding.UCS2
        assert msg.text == "é\ufffd"  # a lone high surrogate is replaced, not fatal

    def test_compressed_is_unsupported(self) -> None:
        pdu = "00" + "04" + "0B913316325476F8" + "00" + "20" + "42506070809000" + "0161"
        with pytest.raises(UnsupportedPdu, match="compressed"):
            decode_deliver(pdu)

    def test_16bit_concat_decoding(self) -> None:
        pdus = encode_deliver(
            "+33612345678", "é" * 100, Encoding.UCS2, timestamp=TS,
            concat_reference=0xBEEF, concat_bits=16,
        )  # fmt: skip
        assert "060804BEEF0201" in pdus[0]
        assert "060804BEEF0202" in pdus[1]
        parts = [decode_deliver(p) for p in pdus]
        assert [p.concat for p in parts] == [Concat(0xBEEF, 2, 1, 16), Concat(0xBEEF, 2, 2, 16)]
        assert "".join(p.text for p in parts) == "é" * 100

    def test_other_information_elements_are_skipped(self) -> None:
        # Port addressing (IEI 05) before the concat IE: 11-octet UDH, 3 fill bits.
        udh = bytes.fromhex("0B05040B8423F0000399" + "0201")
        fill = (7 - len(udh) * 8 % 7) % 7
        assert fill == 2
        septets = gsm7.encode_septets("Bonjour")
        ud = udh + gsm7.pack_septets(septets, fill)
        udl = (len(udh) * 8 + fill) // 7 + len(septets)
        pdu = "00" + "44" + "0B913316325476F8" + "0000" + "42506070809000" + f"{udl:02X}" + ud.hex()
        msg = decode_deliver(pdu)
        assert msg.text == "Bonjour"
        assert msg.concat == Concat(0x99, 2, 1, 8)

    @pytest.mark.parametrize("ie", ["000399" + "0000", "000399" + "0203", "000399" + "0002"])
    def test_void_concat_elements_are_ignored(self, ie: str) -> None:
        pdu = (
            "00" + "44" + "0B913316325476F8" + "0008" + "42506070809000" + "08" + "05" + ie + "0041"
        )
        msg = decode_deliver(pdu)
        assert (msg.concat, msg.text) == (None, "A")

    def test_uppercase_lowercase_and_whitespace(self) -> None:
        hex_pdu = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
        spaced = " ".join(hex_pdu[i : i + 8] for i in range(0, len(hex_pdu), 8)).lower() + "\r\n"
        assert decode_pdu(spaced) == decode_pdu(hex_pdu)


class TestStatusReport:
    @pytest.mark.parametrize(
        ("status", "delivered", "final", "failed"),
        [
            (0x00, True, True, False),
            (0x01, True, True, False),
            (0x02, True, True, False),
            (0x03, False, True, True),
            (0x1F, False, True, True),
            (0x20, False, False, False),
            (0x30, False, False, False),
            (0x3F, False, False, False),
            (0x40, False, True, True),
            (0x46, False, True, True),
            (0x60, False, True, True),
            (0x7F, False, True, True),
        ],
    )
    def test_status_properties(
        self, status: int, delivered: bool, final: bool, failed: bool
    ) -> None:
        report = StatusReport(1, "+33612345678", TS, TS, status)
        assert (report.delivered, report.final, report.failed) == (delivered, final, failed)

    def test_round_trip(self) -> None:
        discharge = TS + timedelta(seconds=30)
        hex_pdu = encode_status_report(42, "06 12 34 56 78", 0x46, scts=TS, discharge=discharge)
        report = decode_pdu(hex_pdu)
        assert report == StatusReport(42, "0612345678", TS, discharge, 0x46)

    def test_optional_trailing_parameters_are_ignored(self) -> None:
        hex_pdu = encode_status_report(1, "+33612345678", 0, scts=TS, discharge=TS, smsc=None)
        assert decode_status_report(hex_pdu + "00").status == 0  # TP-PI with nothing set

    def test_ranges(self) -> None:
        with pytest.raises(ValueError, match="TP-ST"):
            encode_status_report(1, "+1", 256, scts=TS, discharge=TS)
        with pytest.raises(ValueError, match="TP-MR"):
            encode_status_report(-1, "+1", 0, scts=TS, discharge=TS)


class TestDispatch:
    def test_wrong_type_helpers(self) -> None:
        (sub,) = encode_submit("+33612345678", "x", Encoding.GSM7)
        (dlv,) = encode_deliver("+33612345678", "x", Encoding.GSM7, timestamp=TS)
        rep = encode_status_report(1, "+33612345678", 0, scts=TS, discharge=TS)
        assert isinstance(decode_pdu(sub.hex), Submit)
        assert isinstance(decode_pdu(dlv), Deliver)
        assert isinstance(decode_pdu(rep), StatusReport)
        with pytest.raises(CodecError, match="expected an SMS-DELIVER, got Submit"):
            decode_deliver(sub.hex)
        with pytest.raises(CodecError, match="expected an SMS-SUBMIT, got Deliver"):
            decode_submit(dlv)
        with pytest.raises(CodecError, match="expected an SMS-STATUS-REPORT, got Deliver"):
            decode_status_report(dlv)

    def test_eight_bit_submit_is_unsupported(self) -> None:
        with pytest.raises(UnsupportedPdu, match="8-bit"):
            decode_submit("00" + "0100" + "0B913316325476F8" + "0004" + "0141")

    def test_tpdu_length(self) -> None:
        assert tpdu_length("07913306091093F0" + "0011") == 2
        assert tpdu_length("00AABB") == 2
        with pytest.raises(CodecError, match="overruns"):
            tpdu_length("07913306")


# ---------------------------------------------------------------------------
# Malformed input: always CodecError


VALID = [
    "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
    "0011000B916407281553F80000AA0AE8329BFD4697D9EC37",
    "07911326040000F0061A0B914386211568F3012080314494000120803144950000",
    encode_deliver(
        "INFO SMS", "é" * 80, Encoding.UCS2, timestamp=TS, concat_reference=3, concat_bits=16
    )[0],
    encode_submit("+33612345678", "€" * 90, Encoding.GSM7, concat_reference=9)[0].hex,
]


class TestMalformed:
    @pytest.mark.parametrize(
        ("hex_pdu", "message"),
        [
            ("", "empty"),
            ("   ", "empty"),
            ("0", "even-length hex"),
            ("0G", "even-length hex"),
            ("00", "truncated PDU: first octet"),
            ("0003", "reserved message type"),
            ("0901", "truncated PDU: SMSC address"),
            ("00010005", "truncated PDU: TP-DA type"),
            ("0011000B916407281553F80000AA0BE8329BFD4697D9EC37", "truncated PDU: user data"),
            ("0011000B916407281553F80000AAA1" + "00" * 141, "exceeds 160 septets"),
            ("0011000B916407281553F80008AA8D" + "00" * 141, "exceeds 140 octets"),
            ("0011000B916407281553F80000AA0AE8329BFD4697D9EC3700", "unexpected octet"),
            ("0051000B916407281553F80000AA02" + "0600", "overruns the user data"),
            ("0051000B916407281553F80000AA020100", "truncated information element"),
            ("0051000B916407281553F80008AA0403000501", "overruns the user data header"),
            ("0051000B916407281553F80000AA04" + "03000501", "overruns the user data header"),
            ("0051000B916407281553F80000AA06" + "050003010101", "shorter than the user"),
            ("0051000B916407281553F80000AA00", "UDHI set but the user data is empty"),
            ("00040B913316325476F8000042A06070809000" + "00", "invalid BCD"),
            ("00040B913316325476F8000042130670809000" + "00", "invalid TP-SCTS"),
            ("00040B913316325476F80000425060708090A0" + "00", "invalid time zone"),
        ],
    )
    def test_specific_errors(self, hex_pdu: str, message: str) -> None:
        with pytest.raises(CodecError, match=message):
            decode_pdu(hex_pdu)

    @pytest.mark.parametrize("hex_pdu", VALID)
    def test_every_truncation_is_a_codec_error(self, hex_pdu: str) -> None:
        decode_pdu(hex_pdu)
        for end in range(0, len(hex_pdu), 2):
            with pytest.raises(CodecError):
                decode_pdu(hex_pdu[:end])

    @settings(max_examples=300)
    @given(st.binary(max_size=200), st.booleans())
    def test_random_bytes(self, data: bytes, has_smsc: bool) -> None:
        with contextlib.suppress(CodecError):
            decode_pdu(data.hex(), has_smsc=has_smsc)

    @settings(max_examples=300)
    @given(
        st.sampled_from(VALID),
        st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4),
    )
    def test_mutated_valid_pdus(self, hex_pdu: str, edits: list[tuple[int, int]]) -> None:
        data = bytearray.fromhex(hex_pdu)
        for pos, value in edits:
            data[pos % len(data)] = value
        with contextlib.suppress(CodecError):
            decode_pdu(data.hex())


# ---------------------------------------------------------------------------
# Round trips


gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=500)
recipients = st.sampled_from(["+33612345678", "0612345678", "+3212", "112", "+123456789012345"])


@settings(max_examples=150, deadline=None)
@given(gsm_text, recipients, st.integers(0, 255), st.sampled_from([8, 16]))
def test_submit_round_trip_gsm7(text: str, recipient: str, ref: int, bits: int) -> None:
    pdus = encode_submit(
        recipient, text, Encoding.GSM7, concat_reference=ref, concat_bits=bits, reference=ref
    )
    decoded = [decode_submit(p.hex) for p in pdus]
    assert "".join(d.text for d in decoded) == text
    for seq, (pdu, d) in enumerate(zip(pdus, decoded, strict=True), 1):
        assert d.recipient == recipient
        assert d.encoding is Encoding.GSM7
        assert d.reference == ref
        assert pdu.tpdu_length == tpdu_length(pdu.hex)
        assert d.concat == (Concat(ref, len(pdus), seq, bits) if len(pdus) > 1 else None)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=250), st.sampled_from([8, 16]))
def test_submit_round_trip_ucs2(text: str, bits: int) -> None:
    pdus = encode_submit(
        "+33612345678", text, Encoding.UCS2, concat_reference=200, concat_bits=bits
    )
    decoded = [decode_submit(p.hex) for p in pdus]
    assert "".join(d.text for d in decoded) == text
    assert all(d.encoding is Encoding.UCS2 for d in decoded)


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(GSM_CHARS[:-10]), min_size=1, max_size=11).filter(
        # 8 characters ending in "@" are read as 7 plus fill bits (see _read_address)
        lambda s: any(c.isalpha() for c in s) and not (len(s) == 8 and s.endswith("@"))
    ),
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(minutes=345))]
        ),
    ).map(lambda d: d.replace(microsecond=0)),
)
def test_deliver_round_trip_alphanumeric_and_timestamps(name: str, ts: datetime) -> None:
    (pdu,) = encode_deliver(name, "ok", Encoding.GSM7, timestamp=ts)
    msg = decode_deliver(pdu)
    assert msg.sender == name
    assert msg.timestamp == ts
    assert msg.timestamp.utcoffset() == ts.utcoffset()
