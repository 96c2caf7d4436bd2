"""Reading what people produce on Windows and Mac: files are UTF-8 (with or without a BOM),
UTF-16 with its BOM (Notepad's "Unicode", Excel's "Texte Unicode"), Windows-1252 (Notepad
and Excel in France), or Mac Roman (Excel's "CSV (Macintosh)", which also ends its lines with
a lone CR).

Whatever the bytes decode to must then look like text: a NUL, a control character or a
U+FFFD replacement character means the file is binary, UTF-16 without its BOM, or already
mangled by an earlier conversion, and sending or importing it would only spread garbage.
"""

from __future__ import annotations

import codecs
import re

UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
# Control characters (Unicode category Cc) but tab and line ends, and the replacement
# character a lossy decoder leaves.
_GARBAGE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")

# Characters a French text in a single-byte code page is made of, beyond ASCII: each one a
# reading produces counts for that reading (see _french_score).
_FRENCH = set("éèêëàâäçùûüîïôöœæÉÈÊÀÂÇÔÎŒ«»’‘“”€°…–—\u00a0")


class NotText(ValueError):
    """Bytes that do not decode to plausible text."""


def decode_text(data: bytes) -> str:
    for bom, encoding in UTF16_BOMS.items():
        if data.startswith(bom):
            try:
                return check_plausible(data[len(bom) :].decode(encoding))
            except UnicodeDecodeError as exc:
                raise NotText(f"it starts like UTF-16 but is not ({exc.reason})") from exc
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        return check_plausible(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    readings = []
    for encoding in _single_byte_candidates(data):
        try:
            readings.append(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    if not readings:
        raise NotText("the file is neither UTF-8 nor Windows-1252 text")
    # max() keeps the first of equals: the candidate order is the tie-break.
    return check_plausible(max(readings, key=_french_score))


def _single_byte_candidates(data: bytes) -> list[str]:
    """Windows-1252, unless the lines end with a lone CR: that is a Mac file, most likely in
    Mac Roman (``é`` is 0xE9 in one and 0x8E in the other; both decode almost any byte, so
    the reading that looks most like French decides, Mac Roman winning a tie)."""
    mac = b"\r" in data and b"\n" not in data
    return ["mac_roman", "cp1252"] if mac else ["cp1252"]


def _french_score(text: str) -> int:
    score = 0
    for i, ch in enumerate(text):
        if ch.isascii():
            continue
        if ch in _FRENCH:
            score += 1
            # An accented capital inside a lowercase word (GÈrard) is a wrong reading.
            if ch.isupper() and any(
                0 <= j < len(text) and text[j].islower() for j in (i - 1, i + 1)
            ):
                score -= 2
        else:
            score -= 1  # ‡ ˆ Ž ™ ˘ ... : a byte read in the wrong code page
    return score


def check_plausible(text: str) -> str:
    """``text`` unchanged, or NotText naming the first character that betrays garbage."""
    found = _GARBAGE.search(text)
    if found is None:
        return text
    ch, before = found.group(), text[: found.start()]
    line = (before.count("\n") if "\n" in text else before.count("\r")) + 1
    if ch == "\x00":
        raise NotText(
            f"line {line} has NUL characters: it is not text (a binary file, or UTF-16 "
            "without its byte order mark)"
        )
    if ch == "\ufffd":
        raise NotText(
            f"line {line} has a replacement character (U+FFFD): it is not text any more, "
            "an earlier conversion lost characters"
        )
    raise NotText(f"line {line} has a control character U+{ord(ch):04X}: it is not text")
