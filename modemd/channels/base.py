"""The seam between the dispatcher and whatever carries SMS: a USB modem, an SMPP link, a file.

Modelled on python-can's ``BusABC``: the base class owns what every channel shares (walking the
parts of one message, recording each before and after it leaves, turning a driver's trouble
into a typed outcome), and a driver overrides a few private hooks (``_prepare``, ``_transmit``)
plus its lifecycle. The dispatcher, the pool, the throttle and the crash-safety guarantees are
written against this module only, so a new kind of channel touches none of them.

Everything crossing the seam is channel-neutral: message ids are text (a modem's TP-MR, an
SMPP ``message_id``, a line's id in a file), inbound messages and receipts are plain data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from modemd.sms.parts import Encoding


# ------------------------------------------------------------------------------ outgoing
@dataclass(frozen=True)
class OutgoingSms:
    """One recipient's SMS, possibly half sent already (``first_part`` > 1)."""

    recipient: str  # E.164
    text: str
    encoding: Encoding
    parts: int
    validity: timedelta | None = None  # None: the channel's default
    first_part: int = 1  # 1-based: the parts before it left earlier
    resume: str | None = None  # the channel's own note for a half-sent message
    # The disk may be what cannot be written (a notice that it is full): the channel keeps
    # whatever state it needs for this one in memory.
    off_disk: bool = False


class PartJournal(Protocol):
    """The sender's durable record of one message, called around each part."""

    def begin(self, seq: int, resume: str | None) -> bool:
        """Before part ``seq`` is written: record it as in flight (and counted). False when
        the message is no longer wanted or may not go on now: then nothing is sent."""

    def sent(self, seq: int, message_id: str | None) -> None:
        """Part ``seq`` was accepted by the network, under this id (for receipts)."""


# Outcomes: what became of one ``send``. ``seq`` is the part the outcome is about.
@dataclass(frozen=True)
class Sent:
    message_ids: tuple[str | None, ...]


@dataclass(frozen=True)
class NeverLeft:
    """Refused before it left (not counted by the network): retried with backoff."""

    seq: int
    reason: str


@dataclass(frozen=True)
class RetryLater:
    """The far end asked us to slow down (throttled, queue full): not a fault of the
    message, retried after ``after`` seconds without counting an attempt."""

    seq: int
    reason: str
    after: float


@dataclass(frozen=True)
class FailedForGood:
    """This recipient can never be served this way (an invalid number, a barred one)."""

    seq: int
    reason: str


@dataclass(frozen=True)
class InDoubt:
    """The link died mid-exchange: the part may have left. It is sent again (at most once)."""

    seq: int
    reason: str


@dataclass(frozen=True)
class Paused:
    """The channel cannot send at all for now (no network): nothing is tried on it for
    ``seconds``; the part never left and is retried like a refused one."""

    seq: int
    reason: str
    seconds: float


@dataclass(frozen=True)
class Withdrawn:
    """The journal refused part ``seq``: unsubscribed, cancelled or held since it was picked."""

    seq: int


Outcome = Sent | NeverLeft | RetryLater | FailedForGood | InDoubt | Paused | Withdrawn


class ChannelFault(Exception):
    """Raised by a driver's hooks; the base class turns it into an outcome."""

    def outcome(self, seq: int) -> Outcome:
        raise NotImplementedError


class NotSent(ChannelFault):
    """The part did not leave: retried with backoff, or never if ``permanent``."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent

    def outcome(self, seq: int) -> Outcome:
        if self.permanent:
            return FailedForGood(seq, str(self))
        return NeverLeft(seq, str(self))


class Busy(ChannelFault):
    def __init__(self, reason: str, after: float) -> None:
        super().__init__(reason)
        self.after = after

    def outcome(self, seq: int) -> Outcome:
        return RetryLater(seq, str(self), self.after)


class Doubt(ChannelFault):
    def outcome(self, seq: int) -> Outcome:
        return InDoubt(seq, str(self))


class Offline(ChannelFault):
    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.seconds = seconds

    def outcome(self, seq: int) -> Outcome:
        return Paused(seq, str(self), self.seconds)


# ------------------------------------------------------------------------------- inbound
@dataclass(frozen=True)
class InboundSms:
    """A whole received message (parts already joined), whatever brought it."""

    channel: str
    sender: str
    text: str
    received_at: float  # the sender's side time stamp (an SMS centre's), UNIX seconds
    damaged: str | None = None  # what was wrong when it could be decoded only in part
    raw: str | None = None  # the undecoded form, kept when damaged


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt for one part, matched to what was sent by ``message_id``. Ids may
    be reused by a channel (a modem's wrap at 256): ``submitted_at`` picks the right one."""

    channel: str
    message_id: str
    recipient: str
    state: str  # delivered | failed | pending
    submitted_at: float


MessageHandler = Callable[[InboundSms], None]
ReceiptHandler = Callable[[Receipt], None]
StateHandler = Callable[[str, str], None]  # (state, detail)


@dataclass(frozen=True)
class ChannelStatus:
    """What ``status``, metrics, notices and the console show of one channel."""

    name: str
    kind: str
    where: str  # a port, a file, a host
    state: str = "starting"  # starting | ready | lost | failed | stopped
    detail: str = ""
    since: float = 0.0
    online: bool | None = None  # reaches its network (None: unknown or not applicable)
    network: str = ""  # how it reaches it, in words ("registered (home)")
    signal_dbm: int | None = None
    signal_quality: str = "unknown"
    operator: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # the driver's own (a modem's model)

    @property
    def offline(self) -> bool:
        return self.online is False


# ------------------------------------------------------------------------------- channel
def _ignore(*_: object) -> None:
    return None


class Channel(ABC):
    """One way out. ``lanes`` is how many messages it can carry at once (a modem: one;
    an SMPP link: its window); the pool runs that many senders on it."""

    kind = "abstract"
    lanes = 1

    def __init__(
        self,
        name: str,
        *,
        on_message: MessageHandler = _ignore,
        on_receipt: ReceiptHandler = _ignore,
        on_state: StateHandler = _ignore,
    ) -> None:
        self.name = name
        self.on_message = on_message
        self.on_receipt = on_receipt
        self.on_state = on_state

    # lifecycle -------------------------------------------------------------------------
    @abstractmethod
    def start(self) -> None:
        """Open the channel in the background; ``ready`` tells when it can send."""

    @abstractmethod
    def stop(self) -> None: ...

    @property
    @abstractmethod
    def ready(self) -> bool: ...

    @property
    def usable(self) -> bool:
        """Ready and able to send now (a modem with no network is ready but not usable)."""
        return self.ready and not self.status().offline

    @abstractmethod
    def wait_ready(self, timeout: float) -> bool: ...

    @abstractmethod
    def status(self) -> ChannelStatus: ...

    def check(self) -> None:
        """The periodic health check (a modem's signal and SIM); nothing by default."""
        return None

    def sweep(self, wait: float) -> bool:
        """Hand over every inbound message held on the channel now; True when done."""
        return True

    @property
    def send_deadline(self) -> float:
        """The longest one part may take to be accepted: until then it may still arrive,
        so the throttle counts it at the latest time it could."""
        return 10.0

    # sending ---------------------------------------------------------------------------
    def send(self, sms: OutgoingSms, journal: PartJournal) -> Outcome:
        """Send what is left of one SMS, each part recorded before and after it leaves.
        Anything but a ``ChannelFault`` raised by the journal (a full disk) goes through."""
        try:
            pieces, resume = self._prepare(sms)
        except ChannelFault as fault:
            return fault.outcome(sms.first_part)
        if len(pieces) != sms.parts:
            return FailedForGood(
                sms.first_part, f"composed {len(pieces)} parts, expected {sms.parts}"
            )
        ids: list[str | None] = []
        for seq in range(sms.first_part, sms.parts + 1):
            if not journal.begin(seq, resume):
                return Withdrawn(seq)
            try:
                message_id = self._transmit(pieces[seq - 1])
            except ChannelFault as fault:
                return fault.outcome(seq)
            journal.sent(seq, message_id)
            ids.append(message_id)
        return Sent(tuple(ids))

    @abstractmethod
    def _prepare(self, sms: OutgoingSms) -> tuple[Sequence[Any], str | None]:
        """Every part of the message in the driver's own form (PDUs, submit_sm
        arguments...), and the note that lets a half-sent message resume (a modem's
        concatenation reference). Raise ``NotSent(permanent=True)`` for a recipient or a
        text that cannot be encoded."""

    @abstractmethod
    def _transmit(self, piece: Any) -> str | None:
        """Write one part and wait for its answer; return the network's id for it. Raise a
        ``ChannelFault`` for what went wrong."""
