"""Low-level field codecs of SMS PDUs (3GPP TS 23.040 9.1.2, 9.2.3).

Addresses (phone numbers and alphanumeric names), semi-octets/BCD, the SMSC
prefix (27.005), service centre timestamps (TP-SCTS) and validity periods
(TP-VP), plus the bounds-checked octet reader they share with
:mod:`modemd.sms.pdu`. Anything malformed raises :class:`CodecError`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Final

from modemd.sms import gsm7


class CodecError(ValueError):
    """A PDU or an address that cannot be encoded or decoded."""


# ---------------------------------------------------------------------------
# Protocol constants

_TOA_INTERNATIONAL: Final = 0x91  # TON international, NPI ISDN/E.164
_TOA_UNKNOWN: Final = 0x81  # TON unknown, NPI ISDN/E.164
_TOA_ALPHANUMERIC: Final = 0xD0  # TON alphanumeric (GSM-7 packed), NPI unknown
_TON_INTERNATIONAL: Final = 1
_TON_ALPHANUMERIC: Final = 5

_MAX_DIGITS: Final = 20  # address value is at most 10 octets
_MAX_ALPHA_SEPTETS: Final = 11  # 11 septets fill the 10 octets

# Semi-octet values 0xA-0xE (3GPP TS 23.040 9.1.2.3); 0xF is the filler.
_BCD_CHARS: Final = "0123456789*#abc"
_NUMBER_SEPARATORS: Final = re.compile(r"[\s.\-()]")


# ---------------------------------------------------------------------------
# Reading


class _Reader:
    """Cursor over PDU octets whose every read checks the remaining length."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise CodecError(
                f"truncated PDU: {what} needs {n} octet(s) at offset {self.pos}, "
                f"only {len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def expect_end(self) -> None:
        extra = len(self.data) - self.pos
        if extra:
            raise CodecError(f"{extra} unexpected octet(s) after the user data")


def _semi_octets(data: bytes, count: int | None = None) -> str:
    """Digits of the first ``count`` swapped-nibble BCD semi-octets (all if None).

    Filler nibbles (0xF) are skipped wherever they are.
    """
    nibbles = [n for octet in data for n in (octet & 0x0F, octet >> 4)]
    if count is not None:
        nibbles = nibbles[:count]
    return "".join(_BCD_CHARS[n] for n in nibbles if n != 0x0F)


def _read_smsc(r: _Reader) -> str | None:
    # Unlike TP addresses, the SMSC length counts octets (type octet included).
    length = r.byte("SMSC length")
    if length == 0:
        return None
    body = r.take(length, "SMSC address")
    digits = _semi_octets(body[1:])
    if not digits:
        return None
    return "+" + digits if (body[0] >> 4) & 0x07 == _TON_INTERNATIONAL else digits


def _read_address(r: _Reader, what: str) -> str:
    # The length counts useful semi-octets (digits, or 4-bit slices of septets).
    length = r.byte(f"{what} length")
    toa = r.byte(f"{what} type")
    body = r.take((length + 1) // 2, what)
    ton = (toa >> 4) & 0x07
    if ton == _TON_ALPHANUMERIC:
        # The length says exactly how many septets there are: 14 semi-octets
        # are 8 septets, even when the 8th is 0 (an "@" ending "ABCDEFG@").
        count = length * 4 // 7
        return gsm7.decode_septets(gsm7.unpack_septets(body, count))
    digits = _semi_octets(body, length)
    return "+" + digits if ton == _TON_INTERNATIONAL and digits else digits


def _bcd_digit(octet: int, what: str) -> int:
    tens, units = octet & 0x0F, octet >> 4
    if tens > 9 or units > 9:
        raise CodecError(f"invalid BCD octet {octet:02X} in {what}")
    return tens * 10 + units


def _read_timestamp(r: _Reader, what: str) -> datetime:
    raw = r.take(7, what)
    year, month, day, hour, minute, second = (_bcd_digit(b, what) for b in raw[:6])
    # Time zone in quarters of an hour; bit 3 of the tens semi-octet is the sign.
    tz = raw[6]
    units = tz >> 4
    if units > 9:
        raise CodecError(f"invalid time zone octet {tz:02X} in {what}")
    quarters = ((tz & 0x07) * 10 + units) * (-1 if tz & 0x08 else 1)
    zone = timezone(timedelta(minutes=15 * quarters))
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as exc:
        raise CodecError(f"invalid {what}: {raw.hex().upper()} ({exc})") from exc


def validity_from_relative(vp: int) -> timedelta:
    """Duration of a relative TP-VP octet (3GPP TS 23.040 9.2.3.12.1)."""
    if not 0 <= vp <= 255:
        raise ValueError(f"relative validity octet out of range: {vp}")
    if vp <= 143:
        return timedelta(minutes=(vp + 1) * 5)
    if vp <= 167:
        return timedelta(hours=12, minutes=(vp - 143) * 30)
    if vp <= 196:
        return timedelta(days=vp - 166)
    return timedelta(weeks=vp - 192)


def _read_validity(r: _Reader, first: int) -> timedelta | None:
    vpf = (first >> 3) & 0x03
    if vpf == 0:
        return None
    if vpf == 2:
        return validity_from_relative(r.byte("TP-VP"))
    raw = r.take(7, "TP-VP")
    # Absolute (3): a date, not a duration. Enhanced (1, 9.2.3.12.3): only its
    # relative forms without extension octets map to a duration.
    form = raw[0] & 0x87 if vpf == 1 else 0
    if form == 1:
        return validity_from_relative(raw[1])
    if form == 2:
        return timedelta(seconds=raw[1])
    if form == 3:
        h, m, s = (_bcd_digit(b, "TP-VP") for b in raw[1:4])
        return timedelta(hours=h, minutes=m, seconds=s)
    return None


# ---------------------------------------------------------------------------
# Encoding


def _parse_number(raw: str, what: str) -> tuple[str, int]:
    """(digits, type of address) of a phone number written by a person."""
    compact = _NUMBER_SEPARATORS.sub("", raw)
    international = compact.startswith("+")
    digits = compact[1:] if international else compact
    if not digits or not digits.isascii() or not digits.isdigit():
        raise CodecError(f"invalid {what} number {raw!r}: expected digits, optionally after '+'")
    if len(digits) > _MAX_DIGITS:
        raise CodecError(f"invalid {what} number {raw!r}: more than {_MAX_DIGITS} digits")
    return digits, _TOA_INTERNATIONAL if international else _TOA_UNKNOWN


def _bcd(digits: str) -> bytes:
    padded = digits + "F" * (len(digits) % 2)
    return bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))


def _encode_address(raw: str, what: str) -> bytes:
    digits, toa = _parse_number(raw, what)
    return bytes([len(digits), toa]) + _bcd(digits)


def _encode_alphanumeric(name: str) -> bytes:
    try:
        septets = gsm7.encode_septets(name)
    except ValueError as exc:
        raise CodecError(f"invalid alphanumeric sender {name!r}: {exc}") from exc
    if not septets or len(septets) > _MAX_ALPHA_SEPTETS:
        raise CodecError(
            f"invalid alphanumeric sender {name!r}: 1 to {_MAX_ALPHA_SEPTETS} septets allowed"
        )
    # Length in useful semi-octets, as 23.040 9.1.2.5 says (some encoders
    # round up to whole octets; our decoder accepts both).
    semi_octets = (len(septets) * 7 + 3) // 4
    return bytes([semi_octets, _TOA_ALPHANUMERIC]) + gsm7.pack_septets(septets)


def _encode_smsc(smsc: str | None) -> bytes:
    if not smsc:
        return b"\x00"  # length 0: the modem uses the SMSC stored on the SIM
    digits, toa = _parse_number(smsc, "SMSC")
    body = bytes([toa]) + _bcd(digits)
    return bytes([len(body)]) + body


def _encode_timestamp(ts: datetime, what: str) -> bytes:
    if not 2000 <= ts.year <= 2099:
        raise CodecError(f"{what} year {ts.year} cannot be encoded (2000-2099)")
    offset = ts.utcoffset() or timedelta(0)  # naive: the SC's time, zone +00
    quarters, rest = divmod(int(offset.total_seconds()), 15 * 60)
    if rest or not -79 <= quarters <= 79:
        raise CodecError(
            f"{what} UTC offset {offset} is not a multiple of 15 minutes within ±19:45"
        )
    fields = [ts.year % 100, ts.month, ts.day, ts.hour, ts.minute, ts.second]
    out = bytearray((v % 10) << 4 | v // 10 for v in fields)
    q = abs(quarters)
    out.append((q % 10) << 4 | q // 10 | (0x08 if quarters < 0 else 0))
    return bytes(out)


def relative_validity(validity: timedelta) -> int:
    """Relative TP-VP octet for a duration, rounded up (3GPP TS 23.040 9.2.3.12.1).

    Rounding up never expires a message earlier than asked; durations beyond
    63 weeks get the maximum (255).
    """
    micros = validity // timedelta(microseconds=1)
    if micros <= 0:
        raise ValueError(f"validity must be positive, got {validity}")
    minutes = -(-micros // 60_000_000)  # whole minutes, rounded up
    if minutes <= 12 * 60:
        return max(0, -(-minutes // 5) - 1)
    if minutes <= 24 * 60:
        return 143 + -(-(minutes - 12 * 60) // 30)
    days = -(-minutes // (24 * 60))
    if days <= 30:
        return 166 + max(2, days)
    weeks = -(-days // 7)
    return min(255, 192 + max(5, weeks))
