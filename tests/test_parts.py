"""Encoding choice, splitting into parts, and inbound reassembly."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.sms import gsm7
from modemd.sms.parts import (
    MISSING_PART,
    Composition,
    Encoding,
    Reassembler,
    choose_encoding,
    compose,
    part_limits,
    split,
    utf16_units,
)
from modemd.sms.pdu import Concat, Deliver, decode_deliver, encode_deliver

GSM_CHARS = [c for c in gsm7.BASIC if c != "\x1b"] + list(gsm7.EXTENSION)
TS = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)

# 148 characters of French alert, GSM-7 apart from one typographic apostrophe.
ALERT_148 = (
    "ALERTE COMMERCES: individu suspect signalé rue de la République, habillé en noir, "
    "casquette rouge. Prévenez la police au 17 si vous l’apercevez ici."
)


def deliver(
    text: str, *, seq: int = 1, total: int = 1, ref: int = 7, sender: str = "+33612345678"
) -> Deliver:
    concat = Concat(reference=ref, total=total, sequence=seq, bits=8) if total > 1 else None
    return Deliver(sender, text, TS, Encoding.GSM7, concat, "+33609001390")


class TestUnits:
    def test_utf16_units(self) -> None:
        assert utf16_units("") == 0
        assert utf16_units("abc") == 3
        assert utf16_units("😀") == 2
        assert utf16_units("a😀b\U00010348") == 6

    def test_part_limits(self) -> None:
        assert part_limits(Encoding.GSM7) == (160, 153)
        assert part_limits(Encoding.UCS2) == (70, 67)
        assert part_limits(Encoding.GSM7, 16) == (160, 152)
        assert part_limits(Encoding.UCS2, 16) == (70, 66)
        with pytest.raises(ValueError, match="8 or 16"):
            part_limits(Encoding.GSM7, 12)


class TestSplit:
    def test_empty_text_is_one_empty_part(self) -> None:
        assert split("", Encoding.GSM7) == [""]
        assert split("", Encoding.UCS2) == [""]

    def test_gsm7_single_part_up_to_160(self) -> None:
        assert split("a" * 160, Encoding.GSM7) == ["a" * 160]
        assert split("€" * 80, Encoding.GSM7) == ["€" * 80]

    def test_gsm7_161_gives_153_plus_8(self) -> None:
        assert [len(p) for p in split("a" * 161, Encoding.GSM7)] == [153, 8]

    def test_euro_at_part_boundary_is_not_split(self) -> None:
        text = "a" * 152 + "€" + "b" * 200
        parts = split(text, Encoding.GSM7)
        assert parts[0] == "a" * 152  # 152 septets: ESC + 0x65 would straddle 153/154
        assert parts[1].startswith("€")
        assert [gsm7.septet_count(p) for p in parts] == [152, 153, 49]
        assert "".join(parts) == text

    def test_gsm7_16bit_reference_parts_are_152(self) -> None:
        assert [len(p) for p in split("a" * 200, Encoding.GSM7, concat_bits=16)] == [152, 48]

    def test_ucs2_single_part_up_to_70(self) -> None:
        assert split("é" * 70, Encoding.UCS2) == ["é" * 70]
        assert [len(p) for p in split("é" * 71, Encoding.UCS2)] == [67, 4]

    def test_emoji_counts_two_units(self) -> None:
        assert split("😀" * 35, Encoding.UCS2) == ["😀" * 35]
        assert len(split("😀" * 36, Encoding.UCS2)) == 2

    def test_surrogate_pair_is_never_split(self) -> None:
        text = "x" * 66 + "😀" + "y" * 20
        parts = split(text, Encoding.UCS2)
        assert parts == ["x" * 66, "😀" + "y" * 20]

    def test_combining_mark_stays_with_its_base(self) -> None:
        text = "x" * 66 + "e\u0301" + "y" * 10
        parts = split(text, Encoding.UCS2)
        assert parts[0] == "x" * 66
        assert parts[1].startswith("e\u0301")

    def test_zwj_sequence_kept_together_when_possible(self) -> None:
        family = "👩\u200d👧"
        text = "x" * 65 + family + "y" * 10
        parts = split(text, Encoding.UCS2)
        assert parts[0] == "x" * 65
        assert parts[1].startswith(family)

    def test_giant_cluster_is_still_split(self) -> None:
        text = "e" + "\u0301" * 100
        parts = split(text, Encoding.UCS2)
        assert "".join(parts) == text
        assert all(utf16_units(p) <= 67 for p in parts)

    def test_gsm7_split_rejects_non_gsm7(self) -> None:
        with pytest.raises(ValueError, match="'ç'"):
            split("ça", Encoding.GSM7)

    @settings(max_examples=150)
    @given(st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=700), st.sampled_from([8, 16]))
    def test_gsm7_parts_within_limits(self, text: str, bits: int) -> None:
        single, multi = part_limits(Encoding.GSM7, bits)
        parts = split(text, Encoding.GSM7, concat_bits=bits)
        assert "".join(parts) == text
        if len(parts) == 1:
            assert gsm7.septet_count(text) <= single
        else:
            assert gsm7.septet_count(text) > single
            assert all(0 < gsm7.septet_count(p) <= multi for p in parts)

    @settings(max_examples=150)
    @given(st.text(max_size=300), st.sampled_from([8, 16]))
    def test_ucs2_parts_within_limits(self, text: str, bits: int) -> None:
        single, multi = part_limits(Encoding.UCS2, bits)
        parts = split(text, Encoding.UCS2, concat_bits=bits)
        assert "".join(parts) == text
        if len(parts) > 1:
            assert all(0 < utf16_units(p) <= multi for p in parts)
        else:
            assert utf16_units(text) <= single


class TestChooseEncoding:
    def test_auto_gsm7_text(self) -> None:
        assert choose_encoding("Vol à l'étalage") == ("Vol à l'étalage", Encoding.GSM7)

    def test_auto_transliterates(self) -> None:
        assert choose_encoding("L’Haÿ-les-Roses") == ("L'Hay-les-Roses", Encoding.GSM7)

    def test_auto_without_transliteration_is_ucs2(self) -> None:
        text = "L'Haÿ-les-Roses"
        assert choose_encoding(text, transliterate=False) == (text, Encoding.UCS2)

    def test_backtick_without_transliteration_is_ucs2(self) -> None:
        assert choose_encoding("a`b", transliterate=False) == ("a`b", Encoding.UCS2)
        assert choose_encoding("a§b", transliterate=False) == ("a§b", Encoding.GSM7)

    def test_forced_policies(self) -> None:
        assert choose_encoding("😀 ok", "gsm7") == ("? ok", Encoding.GSM7)
        assert choose_encoding("😀 ok", "gsm7", transliterate=False) == ("? ok", Encoding.GSM7)
        assert choose_encoding("plain", "ucs2") == ("plain", Encoding.UCS2)

    def test_unknown_policy(self) -> None:
        with pytest.raises(ValueError, match="unknown encoding policy 'latin1'"):
            choose_encoding("x", "latin1")


class TestCompose:
    def test_french_alert_with_one_apostrophe(self) -> None:
        assert len(ALERT_148) == 148
        assert not gsm7.is_gsm7(ALERT_148)
        as_ucs2 = compose(ALERT_148, transliterate=False)
        assert as_ucs2.encoding is Encoding.UCS2
        assert as_ucs2.part_count == 3
        as_gsm7 = compose(ALERT_148)
        assert as_gsm7.encoding is Encoding.GSM7
        assert as_gsm7.part_count == 1
        assert as_gsm7.text == ALERT_148.replace("’", "'")
        assert as_gsm7.parts == [as_gsm7.text]

    def test_composition_is_frozen(self) -> None:
        comp = compose("hi")
        assert comp == Composition("hi", Encoding.GSM7, ["hi"])
        with pytest.raises(dataclasses.FrozenInstanceError):
            comp.text = "x"  # type: ignore[misc]

    def test_empty(self) -> None:
        assert compose("").parts == [""]
        assert compose("").part_count == 1


class TestReassembler:
    def test_single_part_is_returned_at_once(self) -> None:
        r = Reassembler()
        msg = deliver("hello")
        assert r.feed(msg, 0.0) is msg
        assert r.pending() == 0

    def test_one_of_one_part_is_returned_without_concat(self) -> None:
        msg = dataclasses.replace(deliver("x"), concat=Concat(1, 1, 1, 8))
        out = Reassembler().feed(msg, 0.0)
        assert out is not None
        assert out.concat is None
        assert out.text == "x"

    def test_parts_out_of_order(self) -> None:
        r = Reassembler()
        assert r.feed(deliver("c", seq=3, total=3), 0.0) is None
        assert r.feed(deliver("a", seq=1, total=3), 1.0) is None
        assert r.pending() == 1
        out = r.feed(deliver("b", seq=2, total=3), 2.0)
        assert out is not None
        assert out.text == "abc"
        assert out.concat is None
        assert out.sender == "+33612345678"
        assert r.pending() == 0

    def test_duplicates_ignored(self) -> None:
        r = Reassembler()
        assert r.feed(deliver("a", seq=1, total=2), 0.0) is None
        assert r.feed(deliver("a", seq=1, total=2), 1.0) is None
        out = r.feed(deliver("b", seq=2, total=2), 2.0)
        assert out is not None
        assert out.text == "ab"

    def test_groups_keyed_by_sender_reference_and_total(self) -> None:
        r = Reassembler()
        assert r.feed(deliver("A1", seq=1, total=2, sender="+331"), 0) is None
        assert r.feed(deliver("B1", seq=1, total=2, sender="+332"), 0) is None
        assert r.feed(deliver("C1", seq=1, total=3, sender="+331"), 0) is None
        assert r.feed(deliver("D1", seq=1, total=2, sender="+331", ref=8), 0) is None
        assert r.pending() == 4
        out = r.feed(deliver("B2", seq=2, total=2, sender="+332"), 0)
        assert out is not None
        assert out.text == "B1B2"

    def test_expired_groups_keep_what_arrived(self) -> None:
        r = Reassembler(timeout=60)
        r.feed(deliver("first ", seq=1, total=3), 100.0)
        r.feed(deliver(" last", seq=3, total=3), 130.0)
        assert r.expired(159.0) == []
        out = r.expired(160.0)
        assert [m.text for m in out] == [f"first {MISSING_PART} last"]
        assert out[0].concat is None
        assert r.pending() == 0

    def test_expired_missing_first_part(self) -> None:
        r = Reassembler(timeout=1)
        r.feed(deliver("two", seq=2, total=2, ref=9), 0.0)
        (out,) = r.expired(5.0)
        assert out.text == MISSING_PART + "two"

    def test_invalid_timeout(self) -> None:
        with pytest.raises(ValueError):
            Reassembler(timeout=0)

    def test_mixed_encodings_and_data(self) -> None:
        r = Reassembler()
        a = dataclasses.replace(deliver("a", seq=1, total=2), encoding=Encoding.UCS2)
        b = deliver("b", seq=2, total=2)
        r.feed(a, 0)
        out = r.feed(b, 0)
        assert out is not None
        assert out.encoding is Encoding.UCS2
        assert out.data is None

    def test_binary_parts_keep_their_bytes(self) -> None:
        r = Reassembler()
        a = dataclasses.replace(deliver("", seq=1, total=2), encoding=None, data=b"\x01")
        b = dataclasses.replace(deliver("", seq=2, total=2), encoding=None, data=b"\x02")
        r.feed(b, 0)
        out = r.feed(a, 0)
        assert out is not None
        assert out.encoding is None
        assert out.data == b"\x01\x02"

    @settings(max_examples=40, deadline=None)
    @given(
        st.one_of(
            st.tuples(st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=700), st.just("gsm7")),
            st.tuples(st.text(max_size=300), st.just("ucs2")),
        ),
        st.integers(min_value=0, max_value=0xFFFF),
        st.sampled_from([8, 16]),
        st.randoms(use_true_random=False),
    )
    def test_encode_deliver_round_trip_through_reassembler(
        self, case: tuple[str, str], ref: int, bits: int, rnd: random.Random
    ) -> None:
        text, coding = case
        ref = ref if bits == 16 else ref & 0xFF
        pdus = encode_deliver(
            "+33612345678", text, Encoding(coding), timestamp=TS,
            concat_reference=ref, concat_bits=bits,
        )  # fmt: skip
        parts = [decode_deliver(p) for p in pdus]
        rnd.shuffle(parts)
        r = Reassembler()
        outs = [r.feed(p, 0.0) for p in parts]
        done = [o for o in outs if o is not None]
        assert len(done) == 1
        assert done[0].text == text
        assert done[0].encoding is Encoding(coding)
        assert r.pending() == 0
