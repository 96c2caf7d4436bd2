"""GSM 03.38 tables, septet packing and transliteration."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modemd.sms import gsm7
from modemd.sms.gsm7 import (
    BASIC,
    EXTENSION,
    TRANSLITERATIONS,
    decode_septets,
    encode_septets,
    is_gsm7,
    pack_septets,
    septet_count,
    transliterate,
    unpack_septets,
)

GSM_CHARS = [c for c in BASIC if c != "\x1b"] + list(EXTENSION)
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=400)

# 3GPP TS 23.038 6.2.1: every non-ASCII-position code, checked one by one.
SPOT_CODES = {
    "@": 0x00, "£": 0x01, "$": 0x02, "¥": 0x03, "è": 0x04, "é": 0x05, "ù": 0x06, "ì": 0x07,
    "ò": 0x08, "Ç": 0x09, "\n": 0x0A, "Ø": 0x0B, "ø": 0x0C, "\r": 0x0D, "Å": 0x0E, "å": 0x0F,
    "Δ": 0x10, "_": 0x11, "Φ": 0x12, "Γ": 0x13, "Λ": 0x14, "Ω": 0x15, "Π": 0x16, "Ψ": 0x17,
    "Σ": 0x18, "Θ": 0x19, "Ξ": 0x1A, "Æ": 0x1C, "æ": 0x1D, "ß": 0x1E, "É": 0x1F,
    " ": 0x20, "¤": 0x24, "¡": 0x40, "Ä": 0x5B, "Ö": 0x5C, "Ñ": 0x5D, "Ü": 0x5E, "§": 0x5F,
    "¿": 0x60, "ä": 0x7B, "ö": 0x7C, "ñ": 0x7D, "ü": 0x7E, "à": 0x7F,
}  # fmt: skip


class TestTables:
    def test_basic_is_128_distinct_codes(self) -> None:
        assert len(BASIC) == 128
        assert len(set(BASIC)) == 128
        assert BASIC[0x1B] == "\x1b"

    @pytest.mark.parametrize(("char", "code"), sorted(SPOT_CODES.items(), key=lambda kv: kv[1]))
    def test_spot_codes(self, char: str, code: int) -> None:
        assert BASIC.index(char) == code
        assert encode_septets(char) == [code]

    def test_ascii_letters_digits_and_punctuation_at_ascii_codes(self) -> None:
        ascii_positions = string.ascii_letters + string.digits + "!\"#%&'()*+,-./:;<=>?"
        for ch in ascii_positions:
            assert BASIC.index(ch) == ord(ch), ch

    def test_capital_c_cedilla_not_lowercase(self) -> None:
        # 3GPP corrected GSM 03.38: 0x09 is "Ç"; "ç" is not encodable.
        assert BASIC[0x09] == "Ç"
        assert not is_gsm7("ç")

    def test_extension_table(self) -> None:
        assert EXTENSION == {
            "\x0c": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
            "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
        }  # fmt: skip
        assert not set(EXTENSION) & set(BASIC)

    def test_ascii_characters_missing_from_gsm7(self) -> None:
        missing = [chr(c) for c in range(0x20, 0x7F) if not is_gsm7(chr(c))]
        assert missing == ["`"]
        basic_missing = [chr(c) for c in range(0x20, 0x7F) if chr(c) not in BASIC]
        assert sorted(basic_missing) == sorted("`[\\]^{|}~")

    def test_table_characters_are_nfc_stable(self) -> None:
        # transliterate() NFC-normalises first: that must never alter GSM-7 text.
        for ch in GSM_CHARS:
            assert unicodedata.normalize("NFC", ch) == ch


class TestSeptets:
    def test_septet_count_counts_extension_twice(self) -> None:
        assert septet_count("") == 0
        assert septet_count("abc") == 3
        assert septet_count("€") == 2
        assert septet_count("a[b]c") == 7

    def test_septet_count_rejects_naming_character(self) -> None:
        with pytest.raises(ValueError, match=r"'`'.*position 2"):
            septet_count("ab`c")

    def test_encode_extension(self) -> None:
        assert encode_septets("€") == [0x1B, 0x65]
        assert encode_septets("a{b") == [0x61, 0x1B, 0x28, 0x62]

    def test_encode_rejects_naming_character(self) -> None:
        with pytest.raises(ValueError, match=r"'😀' \(U\+1F600 GRINNING FACE\)"):
            encode_septets("ok 😀")
        with pytest.raises(ValueError, match="'ç'"):
            encode_septets("ça")

    def test_encode_never_emits_bare_escape(self) -> None:
        with pytest.raises(ValueError):
            encode_septets("\x1b")

    @given(gsm_text)
    def test_decode_inverts_encode(self, text: str) -> None:
        septets = encode_septets(text)
        assert len(septets) == septet_count(text)
        assert decode_septets(septets) == text
        assert is_gsm7(text)

    def test_decode_unknown_escape_shows_basic_character(self) -> None:
        assert decode_septets([0x1B, 0x41]) == "A"  # 0x41 unused in the extension table
        assert decode_septets([0x61, 0x1B, 0x00]) == "a@"

    def test_decode_double_and_dangling_escape_are_spaces(self) -> None:
        assert decode_septets([0x1B, 0x1B, 0x61]) == " a"
        assert decode_septets([0x61, 0x1B]) == "a "

    def test_decode_masks_out_of_range_values(self) -> None:
        assert decode_septets([0x80 | 0x41, 300]) == "A" + BASIC[300 & 0x7F]


class TestPacking:
    def test_known_vector(self) -> None:
        # The classic "hellohello" example of 3GPP-derived tutorials.
        assert pack_septets(encode_septets("hellohello")).hex().upper() == "E8329BFD4697D9EC37"

    def test_eight_septets_fill_seven_octets_exactly(self) -> None:
        packed = pack_septets(encode_septets("Bonjour@"))
        assert len(packed) == 7
        assert packed[-1] >> 1 == 0  # the "@" is the 7 high bits of the last octet
        assert decode_septets(unpack_septets(packed, 8)) == "Bonjour@"

    def test_seven_septets_do_not_grow_an_at_sign(self) -> None:
        packed = pack_septets(encode_septets("Alerte!"))
        assert len(packed) == 7  # 49 bits + 7 zero fill bits
        assert decode_septets(unpack_septets(packed, 7)) == "Alerte!"
        # Deriving the count from the octets would read the fill as an "@":
        assert decode_septets(unpack_septets(packed, 8)) == "Alerte!@"

    def test_fill_bits_shift_the_septets(self) -> None:
        assert pack_septets([0x7F], fill_bits=1) == bytes([0xFE])
        assert pack_septets([0x41], fill_bits=6) == bytes([0x40, 0x10])
        assert unpack_septets(bytes([0x40, 0x10]), 1, fill_bits=6) == [0x41]

    def test_empty(self) -> None:
        assert pack_septets([]) == b""
        assert pack_septets([], fill_bits=3) == b"\x00"
        assert unpack_septets(b"", 0) == []

    @given(
        st.lists(st.integers(min_value=0, max_value=0x7F), max_size=200),
        st.integers(min_value=0, max_value=6),
    )
    def test_unpack_inverts_pack(self, septets: list[int], fill: int) -> None:
        packed = pack_septets(septets, fill)
        assert len(packed) == gsm7.packed_length(len(septets), fill)
        assert packed[:1] == b"" or packed[0] & ((1 << fill) - 1) == 0
        assert unpack_septets(packed, len(septets), fill) == septets

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="fill_bits"):
            pack_septets([1], fill_bits=7)
        with pytest.raises(ValueError, match="out of range"):
            pack_septets([0x80])
        with pytest.raises(ValueError, match="need 2 octets"):
            unpack_septets(b"\x00", 2)
        with pytest.raises(ValueError, match="fill_bits"):
            unpack_septets(b"\x00", 1, fill_bits=-1)
        with pytest.raises(ValueError, match="negative"):
            unpack_septets(b"\x00", -1)


BRIEF_MAP = {
    "â": "a", "ê": "e", "î": "i", "ô": "o", "û": "u", "ë": "e", "ï": "i", "ÿ": "y", "ç": "c",
    "œ": "oe", "Œ": "OE", "À": "A", "È": "E", "Ê": "E", "Î": "I", "Ô": "O", "Ù": "U", "Û": "U",
    "Â": "A", "Ë": "E", "Ï": "I", "Ÿ": "Y", "’": "'", "‘": "'", "‚": "'", "“": '"', "”": '"',
    "„": '"', "«": '"', "»": '"', "…": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
    "–": "-", "—": "-", "•": "-",
}  # fmt: skip


class TestTransliterate:
    def test_table_maps_non_gsm7_to_gsm7(self) -> None:
        for src, dst in TRANSLITERATIONS.items():
            assert not is_gsm7(src), src
            assert is_gsm7(dst), (src, dst)
            assert transliterate(src) == dst, src

    @pytest.mark.parametrize(("src", "dst"), sorted(BRIEF_MAP.items()))
    def test_required_mappings(self, src: str, dst: str) -> None:
        assert transliterate(src) == dst

    def test_gsm7_characters_are_kept(self) -> None:
        text = "".join(GSM_CHARS)
        assert transliterate(text) == text
        assert transliterate("éèàùìòÉÇäöüñæÆØøÅåß€") == "éèàùìòÉÇäöüñæÆØøÅåß€"

    def test_french_sentence(self) -> None:
        src = "Œuvre d’art « volée » à L’Haÿ-les-Roses… ça s’est passé à 14 h — vérifiez!"
        assert transliterate(src) == (
            "OEuvre d'art \"volée\" à L'Hay-les-Roses... ca s'est passé à 14 h - vérifiez!"
        )

    def test_guillemet_inner_spaces_go(self) -> None:
        assert transliterate("«\u00a0Le Dauphin\u202f»") == '"Le Dauphin"'
        assert transliterate("«Le Dauphin»") == '"Le Dauphin"'

    def test_nfkd_fallback_strips_accents(self) -> None:
        assert transliterate("áíóúãõ") == "aiouao"
        assert transliterate("Ł") == "?"  # no decomposition
        assert transliterate("ﬁ²") == "fi2"

    def test_decomposed_input_is_composed_first(self) -> None:
        assert transliterate("e\u0301te\u0301") == "été"
        assert transliterate("x\u0301") == "x"  # stray combining mark dropped

    def test_unmappable_becomes_question_mark(self) -> None:
        assert transliterate("ok 😀 漢") == "ok ? ?"
        assert transliterate("👍🏽") == "??"

    def test_invisible_characters_are_dropped(self) -> None:
        assert transliterate("a\u200bb\u00adc\ufeff") == "abc"
        assert transliterate("❤️") == "?"  # heart + VS16: one "?"

    def test_backtick(self) -> None:
        assert transliterate("`ls`") == "'ls'"

    @settings(max_examples=200)
    @given(st.text())
    def test_result_is_always_gsm7(self, text: str) -> None:
        assert is_gsm7(transliterate(text))
