"""GSM 03.38 / 3GPP TS 23.038 default alphabet: tables, septet packing, transliteration.

Everything here is a pure function over strings, lists of septets and bytes.
The alphabet itself is kept as data (``BASIC``, ``EXTENSION``,
``TRANSLITERATIONS``) so that tests can check the tables directly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Final

#: Septet 0x1B: switches to the extension table for the next septet.
ESCAPE: Final = 0x1B

# 3GPP TS 23.038 6.2.1, one row of 16 codes per line. 0x09 is the capital
# "Ç" (the original GSM 03.38 had a lowercase "ç" there; 3GPP corrected it and
# phones display "Ç"). 0x1B is the escape, kept as "\x1b" so that indices match
# codes; it is never produced or accepted as a character by the encoder.
BASIC: Final[str] = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# 3GPP TS 23.038 6.2.1.1: the default extension table, reached by ESC + code.
# Only the printable entries (plus form feed) are listed: 0x0D (CR2) and 0x1B
# (escape to a further table) have no character meaning we could send.
EXTENSION: Final[dict[str, int]] = {
    "\x0c": 0x0A,  # form feed (page break)
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_BASIC_CODE: Final[dict[str, int]] = {ch: code for code, ch in enumerate(BASIC) if code != ESCAPE}
_EXTENSION_CHAR: Final[dict[int, str]] = {code: ch for ch, code in EXTENSION.items()}

# Explicit replacements for characters that are NOT in GSM-7 (basic or
# extension) but are common in French alerts. Keeping them here rather than
# relying on Unicode decomposition matters: NFKD knows nothing about quotes,
# dashes, ligatures or the ellipsis, and would turn "œ" into "?".
TRANSLITERATIONS: Final[dict[str, str]] = {
    # French lowercase accents outside the table (é è à ù ì ò are inside).
    "â": "a",
    "ê": "e",
    "î": "i",
    "ô": "o",
    "û": "u",
    "ë": "e",
    "ï": "i",
    "ÿ": "y",
    "ç": "c",  # only the capital Ç is in the 3GPP table
    "œ": "oe",
    # French capitals outside the table (É and Ç are inside).
    "À": "A",
    "Â": "A",
    "È": "E",
    "Ê": "E",
    "Ë": "E",
    "Î": "I",
    "Ï": "I",
    "Ô": "O",
    "Ù": "U",
    "Û": "U",
    "Ÿ": "Y",
    "Œ": "OE",
    "ẞ": "SS",
    # Typographic quotes, as produced by word processors and phones.
    "’": "'",
    "‘": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "´": "'",
    "`": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "″": '"',
    "«": '"',
    "»": '"',
    "‹": "'",
    "›": "'",
    "…": "...",
    # Spaces: French typography puts (narrow) non-breaking spaces before ; : ! ?
    "\u00a0": " ",  # no-break space
    "\u202f": " ",  # narrow no-break space
    "\u2007": " ",  # figure space
    "\u2008": " ",  # punctuation space
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\t": " ",
    # Dashes and bullets.
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    "•": "-",
    "·": ".",
    "°": "o",  # "n°", "20°C": the closest readable GSM-7 text
    # Invisible characters: dropping them loses nothing a reader would see.
    "\u200b": "",  # zero width space
    "\u200c": "",  # zero width non-joiner
    "\u200d": "",  # zero width joiner (emoji sequences)
    "\u00ad": "",  # soft hyphen
    "\ufeff": "",  # byte order mark / zero width no-break space
    "\ufe0e": "",  # variation selector: text presentation
    "\ufe0f": "",  # variation selector: emoji presentation
}


def _char_septets(ch: str) -> int:
    """Septets needed for one character, or 0 if it is not in GSM-7."""
    if ch in _BASIC_CODE:
        return 1
    if ch in EXTENSION:
        return 2
    return 0


def is_gsm7(text: str) -> bool:
    """True if every character of ``text`` has a GSM-7 encoding (basic or extension)."""
    return all(_char_septets(ch) for ch in text)


def septet_count(text: str) -> int:
    """Number of septets ``text`` takes in GSM-7; extension characters count 2.

    Raises ``ValueError`` naming the first character that has no GSM-7 code.
    """
    total = 0
    for pos, ch in enumerate(text):
        n = _char_septets(ch)
        if not n:
            raise ValueError(_not_encodable(ch, pos))
        total += n
    return total


def _not_encodable(ch: str, pos: int) -> str:
    name = unicodedata.name(ch, "unnamed")
    return f"character {ch!r} (U+{ord(ch):04X} {name}) at position {pos} is not in GSM-7"


def encode_septets(text: str) -> list[int]:
    """Septet codes of ``text``; extension characters become ESC + code.

    Raises ``ValueError`` naming the first character that has no GSM-7 code.
    """
    out: list[int] = []
    for pos, ch in enumerate(text):
        code = _BASIC_CODE.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = EXTENSION.get(ch)
        if ext is None:
            raise ValueError(_not_encodable(ch, pos))
        out.extend((ESCAPE, ext))
    return out


def decode_septets(septets: Sequence[int]) -> str:
    """Text of a septet sequence. Never raises: received data must always display.

    Per 3GPP TS 23.038 6.2.1.1, an escaped code missing from the extension
    table is shown as the basic-table character of that code, and an escape
    we do not understand (ESC ESC, or a dangling ESC at the end) as a space.
    Values above 0x7F are masked to 7 bits.
    """
    out: list[str] = []
    i = 0
    n = len(septets)
    while i < n:
        code = septets[i] & 0x7F
        i += 1
        if code != ESCAPE:
            out.append(BASIC[code])
            continue
        if i >= n:
            out.append(" ")
            break
        nxt = septets[i] & 0x7F
        i += 1
        if nxt == ESCAPE:
            out.append(" ")
        else:
            out.append(_EXTENSION_CHAR.get(nxt, BASIC[nxt]))
    return "".join(out)


def pack_septets(septets: Sequence[int], fill_bits: int = 0) -> bytes:
    """Pack 7-bit values LSB first into octets (3GPP TS 23.038 6.1.2.1.1).

    ``fill_bits`` zero bits (0..6) are put before the first septet; after a
    User Data Header they make the first character start on a septet boundary
    counted from the start of the user data (3GPP TS 23.040 9.2.3.24).
    Unused high bits of the last octet are zero.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    acc = 0
    nbits = fill_bits
    out = bytearray()
    for s in septets:
        if not 0 <= s <= 0x7F:
            raise ValueError(f"septet value out of range: {s}")
        acc |= s << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def packed_length(count: int, fill_bits: int = 0) -> int:
    """Octets needed to hold ``count`` septets after ``fill_bits`` fill bits."""
    return (fill_bits + 7 * count + 7) // 8


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Inverse of :func:`pack_septets`: read exactly ``count`` septets.

    ``count`` comes from TP-UDL, never from ``len(data)``: deriving it from the
    octet count would read the 7 zero fill bits of a message of 8n+7 septets
    as a spurious trailing "@". Raises ``ValueError`` if ``data`` is too short.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0..6, got {fill_bits}")
    if count < 0:
        raise ValueError(f"negative septet count: {count}")
    need = packed_length(count, fill_bits)
    if len(data) < need:
        raise ValueError(f"{count} septets need {need} octets, only {len(data)} given")
    value = int.from_bytes(data[:need], "little") >> fill_bits
    return [(value >> (7 * i)) & 0x7F for i in range(count)]


def _fallback(ch: str) -> str:
    """Closest GSM-7 text for a character with no explicit mapping."""
    if unicodedata.combining(ch):
        # A stray combining accent (one NFC could not merge): drop it.
        return ""
    # NFKD splits "á" into "a" + accent and folds compatibility forms
    # ("ﬁ" -> "fi", "²" -> "2"); we keep whatever part of that is GSM-7.
    decomposed = unicodedata.normalize("NFKD", ch)
    if decomposed != ch:
        parts: list[str] = []
        for d in decomposed:
            if unicodedata.combining(d):
                continue
            if _char_septets(d):
                parts.append(d)
            else:
                parts.append(TRANSLITERATIONS.get(d, "?"))
        if parts and any(p != "?" for p in parts):
            return "".join(parts)
    return "?"


_GUILLEMET_SPACES = re.compile("(«)[ \u00a0\u202f]+|[ \u00a0\u202f]+(»)")


def transliterate(text: str) -> str:
    """Replace every character outside GSM-7 by the closest GSM-7 text.

    Characters already in GSM-7 (é è à ù ì ò É Ç ä ö ü ñ ß € ...) are kept.
    The order is: NFC composition (so "e" + combining acute becomes the GSM-7
    "é"), the explicit ``TRANSLITERATIONS`` table, NFKD accent stripping, and
    finally "?" for anything still unmappable (emoji, CJK, ...).
    """
    # French typography puts a (non-breaking) space inside guillemets: « Le Dauphin »
    # reads "Le Dauphin", not " Le Dauphin ".
    text = _GUILLEMET_SPACES.sub(lambda m: m.group(1) or m.group(2), text)
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if _char_septets(ch):
            out.append(ch)
        elif ch in TRANSLITERATIONS:
            out.append(TRANSLITERATIONS[ch])
        else:
            out.append(_fallback(ch))
    return "".join(out)
