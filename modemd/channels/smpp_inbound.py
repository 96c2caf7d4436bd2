"""What a ``deliver_sm`` carries, read into channel-neutral terms: a delivery receipt (the id
of what we sent and its fate) or an SMS from a phone, perhaps one part of a longer one.

Receipts come two ways and both are read: the TLVs ``receipted_message_id`` and
``message_state``, and the text SMS centres have written since SMPP 3.3
(``id:... sub:001 dlvrd:001 submit date:... done date:... stat:DELIVRD err:000``).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from modemd.channels.base import InboundSms
from modemd.channels.smpp_link import text_of
from modemd.sms.gsm7 import decode_septets
from modemd.sms.parts import MISSING_PART

RECEIPT_CLASS = 0x04  # esm_class message type: SMSC delivery receipt
INTERMEDIATE_CLASS = 0x20  # ...an intermediate notification
UDHI = 0x40

# The receipt text's stat: field, and message_state TLV values (SMPP 3.4 section 5.2.28).
STATS = {
    "DELIVRD": "delivered",
    "UNDELIV": "failed",
    "EXPIRED": "failed",
    "REJECTD": "failed",
    "DELETED": "failed",
    "ENROUTE": "pending",
    "ACCEPTD": "pending",
    "UNKNOWN": "pending",
}
MESSAGE_STATES = {2: "delivered", 3: "failed", 4: "failed", 5: "failed", 8: "failed"}
_RECEIPT_TEXT = re.compile(r"\bid:(?P<id>\S+).*?\bstat:(?P<stat>\w+)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class DeliverItem:
    sender: str
    text: str
    receipt: tuple[str, str] | None = None  # (message id, delivered | failed | pending)
    concat: tuple[int, int, int] | None = None  # (reference, total, seq)
    damaged: str | None = None


def _decode(body: bytes, data_coding: int) -> tuple[str, str | None]:
    """The text of a short message by its data_coding, and what was wrong if anything."""
    try:
        if data_coding == 0x08:
            return body.decode("utf-16-be"), None
        if data_coding == 0x03:
            return body.decode("latin-1"), None
        if data_coding == 0x01:
            return body.decode("ascii"), None
    except UnicodeDecodeError as exc:
        return body.decode("latin-1", "replace"), f"not valid for data_coding {data_coding}: {exc}"
    if data_coding == 0x00 or data_coding & 0xF4 == 0xF0:
        return decode_septets(list(body)), None  # GSM-7, one septet per octet
    return body.decode("latin-1", "replace"), f"unknown data_coding 0x{data_coding:02X}"


def _sender(pdu: Any) -> str:
    addr = text_of(pdu.source_addr)
    if int(getattr(pdu, "source_addr_ton", 0) or 0) == 1 and addr.isdigit():
        return "+" + addr
    return addr


def read_deliver(pdu: Any) -> DeliverItem:
    esm = int(pdu.esm_class or 0)
    body = pdu.short_message or b""
    if isinstance(body, str):
        body = body.encode("latin-1")
    sender = _sender(pdu)
    if esm & (RECEIPT_CLASS | INTERMEDIATE_CLASS):
        text = body.decode("latin-1", "replace")
        found = _RECEIPT_TEXT.search(text)
        message_id = text_of(getattr(pdu, "receipted_message_id", None))
        state_tlv = getattr(pdu, "message_state", None)
        state = "pending"
        if state_tlv is not None:
            state = MESSAGE_STATES.get(int(state_tlv), "pending")
        if found:
            state = STATS.get(found["stat"].upper(), state)
            message_id = message_id or found["id"]
        return DeliverItem(sender, text, receipt=(message_id, state))
    concat = None
    if esm & UDHI and body:
        header_length = body[0]
        header, body = body[1 : 1 + header_length], body[1 + header_length :]
        concat = _concat(header)
    text, damaged = _decode(body, int(pdu.data_coding or 0))
    return DeliverItem(sender, text, concat=concat, damaged=damaged)


def _concat(header: bytes) -> tuple[int, int, int] | None:
    i = 0
    while i + 1 < len(header):
        iei, length = header[i], header[i + 1]
        data = header[i + 2 : i + 2 + length]
        if iei == 0x00 and length == 3:
            return data[0], data[1], data[2]
        if iei == 0x08 and length == 4:
            return (data[0] << 8) | data[1], data[2], data[3]
        i += 2 + length
    return None


class MoJoiner:
    """The parts of long SMS from phones, joined in memory; one still missing parts after
    ``timeout`` is handed over with ``(...)`` in place of what never came. (Held in memory:
    the SMS centre keeps what we have not acknowledged, and we acknowledge each part.)"""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._groups: dict[tuple[str, int, int], tuple[float, dict[int, str]]] = {}
        self._lock = threading.Lock()

    def add(self, channel: str, item: DeliverItem) -> InboundSms | None:
        now = time.time()
        if item.concat is None or item.concat[1] <= 1:
            return InboundSms(channel, item.sender, item.text, now, damaged=item.damaged)
        reference, total, seq = item.concat
        key = (item.sender, reference, total)
        with self._lock:
            first, parts = self._groups.get(key, (now, {}))
            parts[seq] = item.text
            if len(parts) < total and now - first < self.timeout:
                self._groups[key] = (first, parts)
                return None
            self._groups.pop(key, None)
        text = "".join(parts.get(i, MISSING_PART) for i in range(1, total + 1))
        return InboundSms(channel, item.sender, text, first)

    def forget(self, message: InboundSms) -> None:
        """Nothing to undo: a part not acknowledged is sent again by the SMS centre."""
        return None
