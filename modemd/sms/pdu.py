"""SMS PDU mode codec (3GPP TS 23.040 TPDUs, prefixed by the SMSC address as in 27.005).

Encodes SMS-SUBMIT (what we send with ``AT+CMGS``) and, for the simulated
modem, SMS-DELIVER and SMS-STATUS-REPORT; decodes all three. Pure functions:
no I/O, no clock (timestamps are always passed in).

All hex produced is uppercase; hex accepted may be any case, with whitespace.
Anything malformed raises :class:`CodecError` (a ``ValueError``), never an
``IndexError`` or ``UnicodeError``: PDUs come from a serial line and may be
cut or garbled. A received SMS-DELIVER can instead be decoded *tolerantly*:
user data shorter than TP-UDL says, octets after it, or a user data header
that overruns are then noted in ``Deliver.damage`` and the text read as far
as it goes, so that no inbound SMS (a STOP above all) is lost to a sender's
or a network's slip. :func:`read_sender` reads the sender of a PDU that
cannot be decoded at all.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from modemd.sms import gsm7
from modemd.sms.fields import (
    CodecError,
    _encode_address,
    _encode_alphanumeric,
    _encode_smsc,
    _encode_timestamp,
    _read_address,
    _read_smsc,
    _read_timestamp,
    _read_validity,
    _Reader,
    relative_validity,
    validity_from_relative,
)
from modemd.sms.parts import Encoding, split

# The field codecs live in modemd.sms.fields; the names other code imports
# from here are re-exported.
__all__ = [
    "CodecError",
    "Concat",
    "Deliver",
    "StatusReport",
    "Submit",
    "SubmitPdu",
    "UnsupportedPdu",
    "decode_deliver",
    "decode_pdu",
    "decode_status_report",
    "decode_submit",
    "encode_deliver",
    "encode_status_report",
    "encode_submit",
    "read_sender",
    "relative_validity",
    "tpdu_length",
    "validity_from_relative",
]

_T = TypeVar("_T", "Deliver", "Submit", "StatusReport")


class UnsupportedPdu(CodecError):
    """A well-formed PDU using a feature this codec does not implement."""


# ---------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Concat:
    """Concatenation info from the UDH (3GPP TS 23.040 9.2.3.24.1 / .8)."""

    reference: int
    total: int
    sequence: int
    bits: int  # 8 (IEI 0x00) or 16 (IEI 0x08)


@dataclass(frozen=True)
class SubmitPdu:
    """One PDU to send: ``AT+CMGS=<tpdu_length>`` then ``hex`` + Ctrl-Z."""

    hex: str  # includes the SMSC prefix ("00": use the SIM's SMSC)
    tpdu_length: int  # octets after the SMSC prefix, as AT+CMGS wants


@dataclass(frozen=True)
class Deliver:
    """A decoded SMS-DELIVER: a received SMS (or one part of a concatenated one)."""

    sender: str
    text: str
    timestamp: datetime  # SC timestamp, timezone-aware
    encoding: Encoding | None  # None: 8-bit data, see ``data``
    concat: Concat | None
    smsc: str | None
    data: bytes | None = None
    # Set by a tolerant decode: what was wrong with the PDU, and the PDU itself (as
    # received) for the operators to look at. None for a well-formed PDU.
    damage: str | None = None
    pdu: str | None = None


@dataclass(frozen=True)
class Submit:
    """A decoded SMS-SUBMIT: what the simulated modem sees us send."""

    recipient: str
    text: str
    encoding: Encoding
    concat: Concat | None
    reference: int
    status_report_requested: bool
    validity: timedelta | None  # relative validity; None if absent or absolute


@dataclass(frozen=True)
class StatusReport:
    """A decoded SMS-STATUS-REPORT; ``reference`` is the TP-MR of the SUBMIT."""

    reference: int
    recipient: str
    scts: datetime
    discharge: datetime
    status: int

    @property
    def delivered(self) -> bool:
        # 3GPP TS 23.040 9.2.3.15: 0x00 received, 0x01 forwarded (unconfirmed),
        # 0x02 replaced. Other "completed" values (0x03-0x1F) are reserved or
        # SC-specific and not counted as delivered.
        return self.status <= 0x02

    @property
    def final(self) -> bool:
        # 0x20-0x3F: temporary error, the SC is still trying; a later report
        # for the same reference will follow. Everything else is the last word.
        return not 0x20 <= self.status <= 0x3F

    @property
    def failed(self) -> bool:
        return self.final and not self.delivered


# ---------------------------------------------------------------------------
# Protocol constants

_MTI_DELIVER: Final = 0x00
_MTI_SUBMIT: Final = 0x01
_MTI_STATUS_REPORT: Final = 0x02

# First-octet flags (3GPP TS 23.040 9.2.2).
_RD_OR_MMS: Final = 0x04  # SUBMIT: reject duplicates; DELIVER/REPORT: no more messages
_VPF_RELATIVE: Final = 0x10
_SRR: Final = 0x20  # SUBMIT: status report request (REPORT: TP-SRQ)
_UDHI: Final = 0x40

_DCS_GSM7: Final = 0x00
_DCS_UCS2: Final = 0x08

_IEI_CONCAT_8: Final = 0x00
_IEI_CONCAT_16: Final = 0x08

_MAX_UD_OCTETS: Final = 140
_MAX_UD_SEPTETS: Final = 160


# ---------------------------------------------------------------------------
# Reading


def _parse_hex(text: str) -> bytes:
    compact = "".join(text.split())
    if not compact:
        raise CodecError("empty PDU")
    if len(compact) % 2 or not all(c in string.hexdigits for c in compact):
        raise CodecError(f"PDU is not an even-length hex string: {text[:40]!r}")
    return bytes.fromhex(compact)


def _dcs_alphabet(dcs: int) -> Encoding | None:
    """Alphabet from TP-DCS (3GPP TS 23.038 4); None is 8-bit data."""
    group = dcs >> 4
    if group <= 0x7:  # 00xx general / 01xx automatic deletion
        if dcs & 0x20:
            raise UnsupportedPdu(f"compressed user data (TP-DCS {dcs:02X}) is not supported")
        alphabet = (dcs >> 2) & 0x03
        if alphabet == 1:
            return None
        if alphabet == 2:
            return Encoding.UCS2
        return Encoding.GSM7  # 0, and reserved 3 "shall be assumed" GSM-7
    if group == 0xE:  # message waiting, store, UCS-2
        return Encoding.UCS2
    if group == 0xF:  # data coding / message class
        return None if dcs & 0x04 else Encoding.GSM7
    return Encoding.GSM7  # 1100/1101 message waiting, 1000-1011 reserved


class _Damage:
    """Where decoding problems go: raised at once (strict), or noted and survived."""

    def __init__(self, tolerant: bool) -> None:
        self.tolerant = tolerant
        self.notes: list[str] = []

    def __call__(self, problem: str) -> None:
        if not self.tolerant:
            raise CodecError(problem)
        self.notes.append(problem)

    @property
    def text(self) -> str | None:
        return "; ".join(self.notes) or None


def _parse_udh(header: bytes, damage: _Damage) -> Concat | None:
    concat: Concat | None = None
    i = 0
    while i < len(header):
        if i + 2 > len(header):
            damage("truncated information element in the user data header")
            break  # what came before it still counts
        iei, length = header[i], header[i + 1]
        ied = header[i + 2 : i + 2 + length]
        if len(ied) < length:
            damage(f"information element {iei:02X} overruns the user data header")
            break
        i += 2 + length
        if iei == _IEI_CONCAT_8 and length == 3:
            candidate = Concat(reference=ied[0], total=ied[1], sequence=ied[2], bits=8)
        elif iei == _IEI_CONCAT_16 and length == 4:
            ref = (ied[0] << 8) | ied[1]
            candidate = Concat(reference=ref, total=ied[2], sequence=ied[3], bits=16)
        else:
            continue  # ports, language shift, ...: not needed to show the text
        # 9.2.3.24.1: a zero total or a sequence out of range voids the element.
        if 1 <= candidate.sequence <= candidate.total:
            concat = candidate  # if repeated, the last occurrence applies
    return concat


def _printable_latin1(data: bytes) -> str:
    """Best-effort text for 8-bit data, or "" when it is evidently binary."""
    text = data.decode("latin-1")
    if all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return text
    return ""


def _take_user_data(r: _Reader, udl: int, septets: bool, damage: _Damage) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD): what TP-UDL says; tolerantly, the TP-UDL the octets present hold."""
    need = gsm7.packed_length(udl) if septets else udl
    if not damage.tolerant:
        ud = r.take(need, "user data")
        r.expect_end()
        return udl, ud
    left = len(r.data) - r.pos
    ud = r.take(min(need, left), "user data")
    if need > left:
        damage(f"user data shorter than TP-UDL {udl} says ({left} of {need} octets)")
        udl = left * 8 // 7 if septets else left
    extra = len(r.data) - r.pos
    if extra:
        damage(f"{extra} unexpected octet(s) after the user data")
    return udl, ud


def _read_user_data(
    r: _Reader, first: int, alphabet: Encoding | None, damage: _Damage
) -> tuple[str, Concat | None, bytes | None]:
    udl = r.byte("TP-UDL")
    septets = alphabet is Encoding.GSM7
    limit, unit = (_MAX_UD_SEPTETS, "septets") if septets else (_MAX_UD_OCTETS, "octets")
    if udl > limit:
        damage(f"TP-UDL {udl} exceeds {limit} {unit}")
    udl, ud = _take_user_data(r, udl, septets, damage)
    concat: Concat | None = None
    header_len = 0
    if first & _UDHI:
        if not ud:
            damage("TP-UDHI set but the user data is empty")
        elif 1 + ud[0] > len(ud):
            # Tolerantly, the header bit is taken for a slip: all of it is text.
            damage(f"user data header length {ud[0]} overruns the user data")
        else:
            header_len = 1 + ud[0]
            concat = _parse_udh(ud[1:header_len], damage)
    body = ud[header_len:]
    if septets:
        fill = (7 - header_len * 8 % 7) % 7
        count = udl - (header_len * 8 + fill) // 7
        if count < 0:
            damage(f"TP-UDL {udl} septets is shorter than the user data header")
            count = 0
        return gsm7.decode_septets(gsm7.unpack_septets(body, count, fill)), concat, None
    if alphabet is Encoding.UCS2:
        # "replace": an odd length or a lone surrogate (a sender that split a
        # pair across parts) must not make the whole message unreadable.
        return body.decode("utf-16-be", errors="replace"), concat, None
    return _printable_latin1(body), concat, body


# ---------------------------------------------------------------------------
# Decoding


def _decode_tpdu(
    r: _Reader, smsc: str | None, tolerant: bool
) -> Deliver | Submit | StatusReport:
    first = r.byte("first octet")
    mti = first & 0x03
    if mti == _MTI_DELIVER:
        sender = _read_address(r, "TP-OA")
        r.byte("TP-PID")
        alphabet = _dcs_alphabet(r.byte("TP-DCS"))
        timestamp = _read_timestamp(r, "TP-SCTS")
        damage = _Damage(tolerant)
        text, concat, data = _read_user_data(r, first, alphabet, damage)
        pdu = r.data.hex().upper() if damage.text else None
        return Deliver(sender, text, timestamp, alphabet, concat, smsc, data, damage.text, pdu)
    if mti == _MTI_SUBMIT:
        reference = r.byte("TP-MR")
        recipient = _read_address(r, "TP-DA")
        r.byte("TP-PID")
        alphabet = _dcs_alphabet(r.byte("TP-DCS"))
        validity = _read_validity(r, first)
        text, concat, _ = _read_user_data(r, first, alphabet, _Damage(tolerant=False))
        if alphabet is None:
            raise UnsupportedPdu("8-bit data SMS-SUBMIT is not supported")
        srr = bool(first & _SRR)
        return Submit(recipient, text, alphabet, concat, reference, srr, validity)
    if mti == _MTI_STATUS_REPORT:
        reference = r.byte("TP-MR")
        recipient = _read_address(r, "TP-RA")
        scts = _read_timestamp(r, "TP-SCTS")
        discharge = _read_timestamp(r, "TP-DT")
        status = r.byte("TP-ST")
        # Optional TP-PI, TP-PID, TP-DCS, TP-UD may follow: not needed.
        return StatusReport(reference, recipient, scts, discharge, status)
    raise UnsupportedPdu(f"reserved message type indicator in first octet {first:02X}")


def decode_pdu(
    hex: str, *, has_smsc: bool = True, tolerant: bool = False
) -> Deliver | Submit | StatusReport:
    """Decode a PDU as shown by ``+CMGR``/``+CMGL``/``+CMT``/``+CDS``.

    The message type comes from TP-MTI: 0 DELIVER, 1 SUBMIT, 2 STATUS-REPORT
    (the SC-to-MS reading, which is what a modem stores and reports). With
    ``tolerant``, a DELIVER whose user data breaks the rules is decoded as far
    as it goes and flagged in ``damage``; a PDU cut before its user data still
    raises.
    """
    r = _Reader(_parse_hex(hex))
    try:
        smsc = _read_smsc(r) if has_smsc else None
        return _decode_tpdu(r, smsc, tolerant)
    except CodecError:
        raise
    except (ValueError, IndexError) as exc:  # pragma: no cover - safety net
        # Every read is length-checked; this only guarantees the documented
        # contract (CodecError) should a corner case have been missed.
        raise CodecError(f"malformed PDU: {exc}") from exc


def _decode_as(kind: type[_T], hex: str, has_smsc: bool, tolerant: bool = False) -> _T:
    msg = decode_pdu(hex, has_smsc=has_smsc, tolerant=tolerant)
    if not isinstance(msg, kind):
        names = {Deliver: "SMS-DELIVER", Submit: "SMS-SUBMIT", StatusReport: "SMS-STATUS-REPORT"}
        raise CodecError(f"expected an {names[kind]}, got {type(msg).__name__}")
    return msg


def decode_deliver(hex: str, *, has_smsc: bool = True, tolerant: bool = False) -> Deliver:
    return _decode_as(Deliver, hex, has_smsc, tolerant)


def read_sender(hex: str, *, has_smsc: bool = True) -> str | None:
    """The sender (TP-OA) of an SMS-DELIVER PDU, however damaged what follows it is;
    None when it cannot be read."""
    try:
        r = _Reader(_parse_hex(hex))
        if has_smsc:
            _read_smsc(r)
        if r.byte("first octet") & 0x03 != _MTI_DELIVER:
            return None
        return _read_address(r, "TP-OA")
    except (CodecError, ValueError):
        return None


def decode_submit(hex: str, *, has_smsc: bool = True) -> Submit:
    return _decode_as(Submit, hex, has_smsc)


def decode_status_report(hex: str, *, has_smsc: bool = True) -> StatusReport:
    return _decode_as(StatusReport, hex, has_smsc)


def tpdu_length(hex: str) -> int:
    """Octets after the SMSC prefix of a full PDU: the ``AT+CMGS=<n>`` value."""
    data = _parse_hex(hex)
    end = 1 + data[0]
    if end > len(data):
        raise CodecError(f"SMSC length {data[0]} overruns the PDU")
    return len(data) - end


# ---------------------------------------------------------------------------
# Encoding


def _concat_udh(reference: int, total: int, sequence: int, bits: int) -> bytes:
    if bits == 16:
        return bytes([_IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, sequence])
    return bytes([_IEI_CONCAT_8, 3, reference, total, sequence])


def _encode_user_data(text: str, encoding: Encoding, udh: bytes) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD) for one part; ``udh`` is the header without its length octet."""
    header = bytes([len(udh)]) + udh if udh else b""
    if encoding is Encoding.GSM7:
        try:
            septets = gsm7.encode_septets(text)
        except ValueError as exc:
            raise CodecError(f"cannot encode text in GSM-7: {exc}") from exc
        # Fill bits make the first character start on a septet boundary, so
        # that phones ignoring the header still see the text aligned.
        fill = (7 - len(header) * 8 % 7) % 7
        udl = (len(header) * 8 + fill) // 7 + len(septets)
        if udl > _MAX_UD_SEPTETS:
            raise CodecError(f"part needs {udl} septets, more than {_MAX_UD_SEPTETS}")
        return udl, header + gsm7.pack_septets(septets, fill)
    try:
        body = text.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise CodecError(f"cannot encode text in UCS-2: {exc}") from exc
    udl = len(header) + len(body)
    if udl > _MAX_UD_OCTETS:
        raise CodecError(f"part needs {udl} octets, more than {_MAX_UD_OCTETS}")
    return udl, header + body


def _user_data_parts(
    text: str, encoding: Encoding, concat_reference: int | None, concat_bits: int
) -> list[tuple[int, bytes, bool]]:
    """(TP-UDL, TP-UD, has UDH) for each part of ``text``."""
    try:
        parts = split(text, encoding, concat_bits=concat_bits)
    except ValueError as exc:  # names the character that is not GSM-7
        raise CodecError(f"cannot encode text: {exc}") from exc
    total = len(parts)
    if total == 1:
        return [(*_encode_user_data(parts[0], encoding, b""), False)]
    if concat_reference is None:
        raise ValueError(f"concat_reference is required: the text needs {total} parts")
    limit = 0xFFFF if concat_bits == 16 else 0xFF
    if not 0 <= concat_reference <= limit:
        raise ValueError(f"concat_reference {concat_reference} out of range 0..{limit}")
    if total > 255:
        raise CodecError(f"text too long: {total} parts, at most 255")
    out: list[tuple[int, bytes, bool]] = []
    for seq, part in enumerate(parts, 1):
        udh = _concat_udh(concat_reference, total, seq, concat_bits)
        out.append((*_encode_user_data(part, encoding, udh), True))
    return out


def encode_submit(
    recipient: str,
    text: str,
    encoding: Encoding,
    *,
    smsc: str | None = None,
    status_report: bool = False,
    validity: timedelta | None = None,
    reference: int = 0,
    concat_reference: int | None = None,
    concat_bits: int = 8,
) -> list[SubmitPdu]:
    """SMS-SUBMIT PDUs for ``text``, one per part, ready for ``AT+CMGS``.

    ``recipient`` is "+<digits>" (international) or national digits;
    spaces, dots, dashes and parentheses are ignored. ``reference`` is TP-MR
    (0 lets most modems assign their own). ``concat_reference`` is required
    when the text needs more than one part.
    """
    if not 0 <= reference <= 255:
        raise ValueError(f"reference (TP-MR) out of range 0..255: {reference}")
    destination = _encode_address(recipient, "recipient")
    prefix = _encode_smsc(smsc)
    first = _MTI_SUBMIT | (_SRR if status_report else 0)
    vp = b""
    if validity is not None:
        first |= _VPF_RELATIVE
        vp = bytes([relative_validity(validity)])
    dcs = _DCS_GSM7 if encoding is Encoding.GSM7 else _DCS_UCS2
    out: list[SubmitPdu] = []
    for udl, ud, has_udh in _user_data_parts(text, encoding, concat_reference, concat_bits):
        octet = first | (_UDHI if has_udh else 0)
        tpdu = bytes([octet, reference]) + destination + bytes([0x00, dcs]) + vp + bytes([udl]) + ud
        out.append(SubmitPdu(hex=(prefix + tpdu).hex().upper(), tpdu_length=len(tpdu)))
    return out


def encode_deliver(
    sender: str,
    text: str,
    encoding: Encoding,
    *,
    timestamp: datetime,
    smsc: str | None = "+33609001390",
    concat_reference: int | None = None,
    concat_bits: int = 8,
) -> list[str]:
    """SMS-DELIVER PDUs (with SMSC prefix) as a modem shows received messages.

    A ``sender`` containing letters is encoded as an alphanumeric address.
    """
    if any(ch.isalpha() for ch in sender):
        origin = _encode_alphanumeric(sender)
    else:
        origin = _encode_address(sender, "sender")
    prefix = _encode_smsc(smsc)
    scts = _encode_timestamp(timestamp, "timestamp")
    dcs = _DCS_GSM7 if encoding is Encoding.GSM7 else _DCS_UCS2
    out: list[str] = []
    for udl, ud, has_udh in _user_data_parts(text, encoding, concat_reference, concat_bits):
        # TP-MMS set: no more messages waiting, what an SC sends for a lone SMS.
        octet = _MTI_DELIVER | _RD_OR_MMS | (_UDHI if has_udh else 0)
        tpdu = bytes([octet]) + origin + bytes([0x00, dcs]) + scts + bytes([udl]) + ud
        out.append((prefix + tpdu).hex().upper())
    return out


def encode_status_report(
    reference: int,
    recipient: str,
    status: int,
    *,
    scts: datetime,
    discharge: datetime,
    smsc: str | None = "+33609001390",
) -> str:
    """An SMS-STATUS-REPORT PDU (with SMSC prefix) as a modem shows it in ``+CDS``."""
    if not 0 <= reference <= 255:
        raise ValueError(f"reference (TP-MR) out of range 0..255: {reference}")
    if not 0 <= status <= 255:
        raise ValueError(f"status (TP-ST) out of range 0..255: {status}")
    tpdu = (
        bytes([_MTI_STATUS_REPORT | _RD_OR_MMS, reference])
        + _encode_address(recipient, "recipient")
        + _encode_timestamp(scts, "scts")
        + _encode_timestamp(discharge, "discharge")
        + bytes([status])
    )
    return (_encode_smsc(smsc) + tpdu).hex().upper()
