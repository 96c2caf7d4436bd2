"""Choosing an encoding, splitting text into SMS parts, and reassembling inbound parts.

Limits (3GPP TS 23.040 9.2.3.16 and 9.2.3.24.1): one SMS carries 140 octets of
user data, i.e. 160 GSM-7 septets or 70 UCS-2 units. A concatenated part loses
the 6-octet header ``05 00 03 ref total seq`` (7 octets with a 16-bit
reference), leaving 153 septets / 67 units (152 / 66 with 16-bit references).
"""

from __future__ import annotations

import dataclasses
import enum
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from modemd.sms import gsm7

if TYPE_CHECKING:
    from modemd.sms.pdu import Deliver


class Encoding(enum.Enum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


#: Text put in place of a part that never arrived (see :meth:`Reassembler.expired`).
MISSING_PART: Final = "(...)"

POLICIES: Final = ("auto", "gsm7", "ucs2")

# (single-part limit, per-part limit with an 8-bit reference, with a 16-bit one)
_LIMITS: Final[dict[Encoding, tuple[int, int, int]]] = {
    Encoding.GSM7: (160, 153, 152),
    Encoding.UCS2: (70, 67, 66),
}


def part_limits(encoding: Encoding, concat_bits: int = 8) -> tuple[int, int]:
    """(single-part capacity, capacity of each part of a concatenated message).

    Units are septets for GSM-7 and UTF-16 code units for UCS-2.
    """
    single, multi8, multi16 = _LIMITS[encoding]
    if concat_bits == 8:
        return single, multi8
    if concat_bits == 16:
        return single, multi16
    raise ValueError(f"concat_bits must be 8 or 16, got {concat_bits}")


def utf16_units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (astral characters count 2)."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _char_units(ch: str, encoding: Encoding) -> int:
    if encoding is Encoding.UCS2:
        return 2 if ord(ch) > 0xFFFF else 1
    return gsm7.septet_count(ch)


def _glues_to_previous(ch: str) -> bool:
    """Characters that belong to the preceding one on screen (same grapheme).

    Cutting before them would show a bare accent or a broken emoji at the
    start of the next part, so the splitter tries to keep them together.
    """
    cp = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or cp == 0x200D  # zero width joiner
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # emoji tag sequences (flags)
    )


def _inside_cluster(text: str, i: int) -> bool:
    """True if a cut just before ``text[i]`` would separate a grapheme cluster."""
    return _glues_to_previous(text[i]) or text[i - 1] == "\u200d"


def split(text: str, encoding: Encoding, *, concat_bits: int = 8) -> list[str]:
    """Split ``text`` into part texts for ``encoding``.

    One part if it fits 160 septets / 70 units, otherwise parts of at most
    153 septets / 67 units (152 / 66 when ``concat_bits`` is 16). A character
    is never split: an extension character keeps its ESC and code in the same
    part, an astral character keeps both UTF-16 surrogates. When possible a
    cut is also moved back so that combining marks, joiners and emoji
    modifiers stay with their base character. Empty text gives ``[""]``.

    Raises ``ValueError`` for GSM-7 text containing a character outside GSM-7.
    """
    single, per_part = part_limits(encoding, concat_bits)
    sizes = [_char_units(ch, encoding) for ch in text]
    if sum(sizes) <= single:
        return [text]
    parts: list[str] = []
    start = 0
    n = len(text)
    while start < n:
        end = start
        used = 0
        while end < n and used + sizes[end] <= per_part:
            used += sizes[end]
            end += 1
        if end < n:
            # Move the cut back out of a grapheme cluster; if the whole part
            # is one cluster, cutting inside it is the only way forward.
            cut = end
            while cut > start + 1 and _inside_cluster(text, cut):
                cut -= 1
            if not _inside_cluster(text, cut):
                end = cut
        parts.append(text[start:end])
        start = end
    return parts


def choose_encoding(
    text: str, policy: str = "auto", transliterate: bool = True
) -> tuple[str, Encoding]:
    """Pick the encoding for ``text`` and return the text to send with it.

    * ``"auto"``: GSM-7 if the text already is GSM-7; otherwise the
      transliterated text in GSM-7 if ``transliterate``, else UCS-2 as is.
    * ``"gsm7"``: always GSM-7, transliterating whatever is needed.
    * ``"ucs2"``: always UCS-2, text unchanged.
    """
    if policy == "auto":
        if gsm7.is_gsm7(text):
            return text, Encoding.GSM7
        if transliterate:
            return gsm7.transliterate(text), Encoding.GSM7
        return text, Encoding.UCS2
    if policy == "gsm7":
        return gsm7.transliterate(text), Encoding.GSM7
    if policy == "ucs2":
        return text, Encoding.UCS2
    raise ValueError(f"unknown encoding policy {policy!r}, expected one of {', '.join(POLICIES)}")


@dataclass(frozen=True)
class Composition:
    """An outbound text ready to be encoded: final text, encoding and part texts."""

    text: str
    encoding: Encoding
    parts: list[str]

    @property
    def part_count(self) -> int:
        return len(self.parts)


def compose(text: str, policy: str = "auto", transliterate: bool = True) -> Composition:
    """Choose the encoding of ``text`` and split it into parts."""
    final, encoding = choose_encoding(text, policy, transliterate)
    return Composition(text=final, encoding=encoding, parts=split(final, encoding))


# --------------------------------------------------------------------------
# Inbound reassembly


@dataclass
class _Group:
    first_seen: float
    total: int
    parts: dict[int, Deliver] = dataclasses.field(default_factory=dict)


_Key = tuple[str, int, int]


def _merge(parts: dict[int, Deliver], total: int) -> Deliver:
    """One Deliver from the parts received, "(...)" standing for missing ones."""
    ordered = [parts.get(seq) for seq in range(1, total + 1)]
    present = [p for p in ordered if p is not None]
    # The first part that arrived in sequence order carries sender, SMSC and
    # the timestamp a phone would show for the whole message.
    head = present[0]
    text = "".join(p.text if p is not None else MISSING_PART for p in ordered)
    encodings = {p.encoding for p in present}
    if len(encodings) == 1:
        encoding = head.encoding
    elif Encoding.UCS2 in encodings:
        # Senders may mix GSM-7 and UCS-2 parts; decoded text is text either way.
        encoding = Encoding.UCS2
    else:
        encoding = Encoding.GSM7 if Encoding.GSM7 in encodings else None
    data: bytes | None = None
    if all(p is not None and p.data is not None for p in ordered):
        data = b"".join(p.data for p in present if p.data is not None)
    # A damaged part flags the whole message; the raw PDUs are those of single parts only.
    damage = "; ".join(p.damage for p in present if p.damage) or None
    return dataclasses.replace(
        head, text=text, encoding=encoding, concat=None, data=data, damage=damage, pdu=None
    )


class Reassembler:
    """Joins the parts of concatenated inbound messages.

    Parts are grouped by (sender, reference, total): the reference alone is
    only 8 bits and different senders pick the same ones. ``now`` is passed in
    by the caller (any monotonic clock), which keeps this class free of I/O.
    """

    def __init__(self, timeout: float = 3600.0) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._groups: dict[_Key, _Group] = {}

    def feed(self, msg: Deliver, now: float) -> Deliver | None:
        """Add one received message; return the complete message if there is one.

        A message without concatenation info (or a "1 of 1" part, or a part
        whose sequence number is out of range, which 3GPP TS 23.040 says to
        treat as unconcatenated) is returned at once. A duplicate part is
        ignored and gives ``None``.
        """
        concat = msg.concat
        if concat is None or concat.total <= 1 or not 1 <= concat.sequence <= concat.total:
            return dataclasses.replace(msg, concat=None) if concat is not None else msg
        key = (msg.sender, concat.reference, concat.total)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(first_seen=now, total=concat.total)
        if concat.sequence in group.parts:
            return None
        group.parts[concat.sequence] = msg
        if len(group.parts) < group.total:
            return None
        del self._groups[key]
        return _merge(group.parts, group.total)

    def expired(self, now: float) -> list[Deliver]:
        """Give up on groups older than the timeout, returning what was received.

        Missing parts are shown as "(...)" so that nothing received is lost.
        """
        out: list[Deliver] = []
        for key, group in sorted(self._groups.items(), key=lambda kv: kv[1].first_seen):
            if now - group.first_seen >= self.timeout:
                del self._groups[key]
                out.append(_merge(group.parts, group.total))
        return out

    def next_expiry(self) -> float | None:
        """When the oldest incomplete message times out (on the clock ``now`` comes from),
        or None when none is waiting: callers sleep until then, not in short rounds."""
        if not self._groups:
            return None
        return min(group.first_seen for group in self._groups.values()) + self.timeout

    def pending(self) -> int:
        """Number of incomplete concatenated messages waiting for parts."""
        return len(self._groups)
