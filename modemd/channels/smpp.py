"""An SMPP 3.4 link to an operator's or an aggregator's SMS centre, as a channel.

What is SMPP-specific stays here: the transceiver bind kept up (re-bound with backoff after a
lost link), the contract's ``throughput`` (never more submits a second, whatever the window),
a window of ``submit_sm`` awaiting their answer (the pool runs one sender per slot),
concatenation by UDH in GSM-7 or UCS-2 as the modem composes it, which ``command_status``
means "slow down", "try again" or "never", delivery receipts matched to the ids the SMS
centre gave, and mobile-originated ``deliver_sm`` handed in like a modem's SMS.

A submit is recorded in flight by the dispatcher's journal before it is written and sent
after its answer; one written without an answer (a lost link, a timeout) is in doubt, as a
modem's part in flight, and goes again at most once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from modemd.channels.base import (
    Busy,
    Channel,
    ChannelStatus,
    Doubt,
    MessageHandler,
    NotSent,
    Offline,
    OutgoingSms,
    Receipt,
    ReceiptHandler,
    StateHandler,
    _ignore,
)
from modemd.channels.smpp_inbound import MoJoiner, read_deliver
from modemd.channels.smpp_link import ESME_RX_T_APPN, LinkDown, SmppLink
from modemd.channels.smpp_receipts import ReceiptMatcher
from modemd.config import ChannelConfig, is_alphanumeric_sender, parse_duration
from modemd.sms.gsm7 import encode_septets
from modemd.sms.parts import Encoding, split

log = logging.getLogger(__name__)

RESPONSE_TIMEOUT = 10.0  # seconds a submit waits for its answer before it is in doubt
REBIND_FIRST, REBIND_MAX = 1.0, 60.0  # backoff between binds after a lost link
STEADY = 30.0  # a link up this long was healthy: the backoff starts over
LINK_DOWN_PAUSE = 2.0  # a sender finding the link down tries again after this

# command_status values (SMPP 3.4 section 5.1.3) that say "not now" and how long to wait:
# the SMS centre is busy, not the message at fault; nothing is counted against it.
RETRY_LATER: dict[int, tuple[str, float]] = {
    0x58: ("throttled by the SMS centre", 1.0),  # ESME_RTHROTTLED
    0x14: ("SMS centre queue full", 5.0),  # ESME_RMSGQFUL
    0x08: ("SMS centre system error", 5.0),  # ESME_RSYSERR
    0x64: ("SMS centre temporary error", 5.0),  # ESME_RX_T_APPN
}
# ...and those that say this recipient or this message can never go this way.
FOR_GOOD: dict[int, str] = {
    0x0B: "invalid destination address",  # ESME_RINVDSTADR
    0x33: "invalid destination",  # ESME_RINVNUMDESTS
    0x50: "invalid destination TON",  # ESME_RINVDSTTON
    0x51: "invalid destination NPI",  # ESME_RINVDSTNPI
    0x66: "refused by the SMS centre",  # ESME_RX_P_APPN
    0x67: "rejected by the SMS centre",  # ESME_RX_R_APPN
    0x01: "message too long",  # ESME_RINVMSGLEN
}
# ...and those that are the link's own fault (our sender, our account): the channel pauses.
CHANNEL_FAULT: dict[int, str] = {
    0x0A: "the SMS centre refuses our sender (source_addr)",  # ESME_RINVSRCADR
    0x04: "not bound",  # ESME_RINVBNDSTS
    0x0F: "the account is not allowed to send (system_id)",  # ESME_RINVSYSID
}
CHANNEL_FAULT_PAUSE = 30.0


def relative_validity(validity: timedelta) -> str:
    """SMPP's relative time, ``YYMMDDhhmmss000R``, for a validity period."""
    seconds = max(60, int(validity.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{min(days, 99):02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def addressing(addr: str) -> tuple[int, int, str]:
    """(TON, NPI, address) of a sender or recipient as SMPP writes them."""
    if is_alphanumeric_sender(addr):
        return 5, 0, addr  # alphanumeric
    digits = addr.lstrip("+")
    if addr.startswith("+") or len(digits) > 8:
        return 1, 1, digits  # international, E.164
    return 0, 1, digits  # a short code: the SMS centre's own numbering


class RateGate:
    """Never more than ``per_second`` submits in any second. Each waits its turn right
    before it is written (under the link's write lock, so turns are taken one at a time),
    spaced from the previous write as it really happened: a sender that woke late does not
    bunch with the next. A hair slower than the contract, so the SMS centre never counts one
    too many."""

    MARGIN = 1.01

    def __init__(self, per_second: float) -> None:
        self.spacing = self.MARGIN / per_second
        self._last = -1e9
        self._hold = 0.0
        self._lock = threading.Lock()
        self._times: list[float] = []

    def hold(self, seconds: float) -> None:
        """The SMS centre said "throttled": nobody submits for this long."""
        with self._lock:
            self._hold = max(self._hold, time.monotonic() + seconds)

    def turn(self, stop: threading.Event) -> bool:
        """Wait for the next turn; False if stopping meanwhile."""
        while not stop.is_set():
            with self._lock:
                now = time.monotonic()
                at = max(self._last + self.spacing, self._hold)
                if now >= at:
                    self._last = now
                    self._times = [t for t in self._times if t > now - 1.0] + [now]
                    return True
            stop.wait(at - now)
        return False

    def last_second(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for t in self._times if t > now - 1.0)


class SmppChannel(Channel):
    kind = "smpp"

    def __init__(
        self,
        name: str,
        settings: ChannelConfig,
        *,
        on_message: MessageHandler = _ignore,
        on_receipt: ReceiptHandler = _ignore,
        on_state: StateHandler = _ignore,
        reassembly_timeout: float = 3600.0,
    ) -> None:
        super().__init__(name, on_message=on_message, on_receipt=on_receipt, on_state=on_state)
        self.settings = settings
        self.lanes = settings.window
        self.where = f"{settings.host}:{settings.tcp_port}"
        self.gate = RateGate(settings.throughput)
        self.joiner = MoJoiner(reassembly_timeout)
        self._link: SmppLink | None = None
        self._bound = threading.Event()
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread: threading.Thread | None = None
        self._state, self._detail, self._since = "starting", "", time.time()
        self._binds = 0
        self.receipts = ReceiptMatcher(self._receipt, counting=settings.delivery_reports)

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._keep_bound, name=f"smpp-{self.name}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._lost.set()
        link = self._link
        if link is not None:
            link.close()
        if self._thread is not None:
            self._thread.join(5.0)
        self._bound.clear()
        self._set("stopped", "")

    @property
    def ready(self) -> bool:
        return self._bound.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._bound.wait(timeout)

    @property
    def send_deadline(self) -> float:
        # Queued behind the window's other submits for the throughput, then the answer.
        return RESPONSE_TIMEOUT + self.lanes * self.gate.spacing

    def _set(self, state: str, detail: str) -> None:
        if (state, detail) == (self._state, self._detail):
            return
        self._state, self._detail, self._since = state, detail, time.time()
        self.on_state(state, detail)

    def _keep_bound(self) -> None:
        """Bind; when the link is lost, bind again after a backoff (1 s doubling to 60 s)."""
        delay = REBIND_FIRST
        s = self.settings
        while not self._stop.is_set():
            self._lost.clear()
            link = SmppLink(
                s.host,
                s.tcp_port,
                system_id=s.system_id,
                password=s.password or "",
                system_type=s.system_type,
                tls=s.tls,
                enquire_link=parse_duration(s.enquire_link),
                response_timeout=RESPONSE_TIMEOUT,
                on_deliver=self._deliver,
                on_lost=self._on_lost,
                on_accepted=self.receipts.accepted,
                on_idle=self.receipts.tick,
            )
            try:
                link.open()
            except LinkDown as exc:
                self._set("lost" if self._binds else "starting", str(exc))
                self._stop.wait(delay * random.uniform(0.8, 1.2))
                delay = min(REBIND_MAX, delay * 2)
                continue
            self._link = link
            self._binds += 1
            bound_at = time.monotonic()
            self._bound.set()
            self._set("ready", "bound as transceiver")
            self._lost.wait()
            self._bound.clear()
            # A link that held a while is bound again at once; one that keeps dropping
            # right after its bind waits longer each time, like a refused bind.
            delay = REBIND_FIRST if time.monotonic() - bound_at > STEADY else delay
            if not self._stop.is_set():
                self._stop.wait(delay * random.uniform(0.5, 1.5))
                delay = min(REBIND_MAX, delay * 2)

    def _on_lost(self, reason: str) -> None:
        self._bound.clear()
        if not self._stop.is_set():
            log.warning("SMPP %s: %s; binding again", self.name, reason)
            self._set("lost", reason)
        self._lost.set()

    def status(self) -> ChannelStatus:
        link = self._link
        bound = self.ready
        receipts = self.receipts.snapshot()
        facts: dict[str, Any] = {
            "system_id": self.settings.system_id,  # never the password
            "source_addr": self.settings.source_addr,
            "tls": self.settings.tls,
            "window": self.lanes,
            "window_in_use": link.outstanding() if link is not None and bound else 0,
            "throughput": self.settings.throughput,
            "submits_last_second": self.gate.last_second(),
            "receipts": receipts,
            "receipts_pending": receipts["pending"],
            "binds": self._binds,
        }
        return ChannelStatus(
            name=self.name,
            kind=self.kind,
            where=self.where,
            state=self._state,
            detail=self._detail,
            since=self._since,
            online=bound if self._state != "starting" else None,
            network="bound" if bound else "not bound",
            facts=facts,
        )

    # -------------------------------------------------------------------------- sending
    def _prepare(self, sms: OutgoingSms) -> tuple[Sequence[Any], str | None]:
        try:
            texts = split(sms.text, sms.encoding)
            bodies = [_encode(text, sms.encoding) for text in texts]
        except ValueError as exc:
            raise NotSent(f"cannot compose: {exc}", permanent=True) from exc
        s = self.settings
        src_ton, src_npi, source = addressing(s.source_addr)
        dst_ton, dst_npi, destination = addressing(sms.recipient)
        reference = int(sms.resume) if sms.resume else random.randrange(256)
        common: dict[str, Any] = {
            "service_type": "",
            "source_addr_ton": src_ton,
            "source_addr_npi": src_npi,
            "source_addr": source,
            "dest_addr_ton": dst_ton,
            "dest_addr_npi": dst_npi,
            "destination_addr": destination,
            "data_coding": 0x08 if sms.encoding is Encoding.UCS2 else 0x00,
            "registered_delivery": 1 if s.delivery_reports else 0,
            "validity_period": relative_validity(sms.validity) if sms.validity else None,
        }
        pieces: list[dict[str, Any]] = []
        for seq, body in enumerate(bodies, start=1):
            if len(bodies) > 1:
                # 8-bit concatenation UDH: the phone joins parts by sender and reference.
                udh = bytes([0x05, 0x00, 0x03, reference, len(bodies), seq])
                pieces.append({**common, "esm_class": 0x40, "short_message": udh + body})
            else:
                pieces.append({**common, "esm_class": 0x00, "short_message": body})
        return pieces, str(reference) if len(bodies) > 1 else None

    def _transmit(self, piece: Any) -> str | None:
        assert isinstance(piece, dict)
        link = self._link
        if link is None or not self.ready:
            raise Offline("SMPP link not bound", LINK_DOWN_PAUSE)
        try:
            answer = link.submit(
                {k: v for k, v in piece.items() if v is not None},
                turn=lambda: self.gate.turn(self._stop),
            )
        except LinkDown as exc:
            if str(exc) == "not bound":
                raise Offline("SMPP link not bound", LINK_DOWN_PAUSE) from None
            raise Doubt(f"SMPP {exc}") from None
        except TimeoutError as exc:
            raise Doubt(f"SMPP: {exc}") from None
        if answer is None:
            raise NotSent("stopping")
        if answer.status == 0:
            return answer.message_id or None
        status = answer.status
        if status in RETRY_LATER:
            reason, after = RETRY_LATER[status]
            if status == 0x58:
                self.gate.hold(after)  # every sender of the link slows down, not only this one
            raise Busy(f"{reason} (0x{status:02X})", after)
        if status in FOR_GOOD:
            raise NotSent(f"{FOR_GOOD[status]} (0x{status:02X})", permanent=True)
        if status in CHANNEL_FAULT:
            raise Offline(f"{CHANNEL_FAULT[status]} (0x{status:02X})", CHANNEL_FAULT_PAUSE)
        raise NotSent(f"refused by the SMS centre (command_status 0x{status:02X})")

    # -------------------------------------------------------------------------- inbound
    def _receipt(self, message_id: str, sender: str, state: str, submitted_at: float) -> None:
        self.on_receipt(Receipt(self.name, message_id, sender, state, submitted_at))

    def _deliver(self, pdu: Any) -> int:
        """A deliver_sm: a receipt for something we sent, or an SMS from a phone. Returns
        the status of our deliver_sm_resp (0, or "try later" when it cannot be kept now)."""
        item = read_deliver(pdu)
        if item.receipt is not None:
            self.receipts.receipt(item.receipt[0], item.sender, item.receipt[1])
            return 0
        message = self.joiner.add(self.name, item)
        if message is None:
            return 0  # one part of a longer SMS: kept until the others arrive
        try:
            self.on_message(message)
        except Exception as exc:  # the daemon could not keep it (a full disk): SMSC retries
            log.warning("SMPP %s: SMS from %s not taken now: %s", self.name, item.sender, exc)
            self.joiner.forget(message)
            return ESME_RX_T_APPN
        return 0


def _encode(text: str, encoding: Encoding) -> bytes:
    if encoding is Encoding.UCS2:
        return text.encode("utf-16-be")
    # GSM-7 on SMPP: one septet per octet (data_coding 0, the SMS centre's default alphabet).
    return bytes(encode_septets(text))
