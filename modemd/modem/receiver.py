"""Receiving: inbound SMS and status reports, from modem storage or pushed, never lost.

New messages are read from the storage a ``+CMTI`` names, taken from ``+CMT``/``+CDS`` pushes,
and swept from every storage at each bring-up; the health checks look at what the storage holds
(one ``AT+CPMS?``) and sweep it when it holds more than what is left there on purpose, which
catches a ``+CMTI`` lost in line noise and a hand-over that failed. Long messages are
reassembled; their stored parts stay on the modem until the whole message has been handed over,
and a message is deleted only after its handler returned, so a crash at any point means a second
hand-over, not a loss.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from modemd.modem import info
from modemd.modem.at import AtEngine
from modemd.modem.errors import CmeError, CmsError, CommandFailed, ModemError
from modemd.modem.info import ModemStatus
from modemd.sms.parts import Reassembler
from modemd.sms.pdu import CodecError, Deliver, StatusReport, decode_pdu, read_sender

log = logging.getLogger(__name__)


class KeepForLater(Exception):
    """Raised by a handler that cannot take a message now for a reason already said elsewhere
    (a full disk): the message stays on the modem, without a traceback in the log."""


SmsHandler = Callable[[Deliver], None]
ReportHandler = Callable[[StatusReport], None]


@dataclass
class _Group:
    """Where the stored parts of one message sit, deleted together once it is handed over."""

    locations: list[tuple[str, int]] = field(default_factory=list)


class Receiver:
    def __init__(
        self,
        engine: Callable[[], AtEngine],
        status: ModemStatus,
        on_sms: SmsHandler,
        on_report: ReportHandler | None,
        *,
        reassembly_timeout: float,
        command_timeout: float,
    ) -> None:
        self._engine = engine  # raises ConnectionLost when the modem is not there
        self.status = status
        self._on_sms = on_sms
        self._on_report = on_report
        self._timeout = command_timeout
        self._reassembler = Reassembler(timeout=reassembly_timeout)
        self._groups: dict[tuple[str, int, int], _Group] = {}
        self._kept: set[tuple[str, int]] = set()  # stored, not ours to delete (not a DELIVER)
        self._left_behind: set[str] = set()  # storages holding a message whose hand-over failed
        self.read_storage = ""  # the storage set at bring-up, returned to after each read

    def sweep(self, storages: list[str] | None = None) -> None:
        """Hand over every message stored while nobody was listening (in every storage,
        or in those named)."""
        for mem in storages or self.status.storages or (self.read_storage,):
            try:
                self._use_storage(mem)
                listed = info.parse_listing(self._engine().command("AT+CMGL=4", 30))
            except (CmsError, CmeError, CommandFailed) as exc:
                log.debug("cannot list storage %s: %s", mem, exc)
                continue
            self._kept = {kept for kept in self._kept if kept[0] != mem}
            for stored in listed:
                self.take(stored.pdu, (mem, stored.index))
        self._use_storage(self.read_storage)

    def check_stored(self) -> None:
        """One look at the storage new SMS go to (``AT+CPMS?``): if it holds more than the
        parts of unfinished long messages and what is not ours to delete, or a hand-over
        failed somewhere, sweep there now."""
        try:
            use = info.parse_storage_use(self._engine().command("AT+CPMS?", self._timeout))
        except (CmsError, CmeError, CommandFailed) as exc:
            log.debug("cannot read storage use: %s", exc)
            use = None
        storages = set(self._left_behind)
        if use is None:
            storages.add(self.read_storage)  # cannot tell: look
        elif use[1] > self._held(use[0]):
            storages.add(use[0])
        if storages:
            self._left_behind.clear()
            self.sweep(sorted(storages))

    def next_deadline(self) -> float | None:
        """When an unfinished long message is due to be handed over as it is (monotonic)."""
        return self._reassembler.next_expiry()

    def _held(self, mem: str) -> int:
        parts = sum(loc[0] == mem for group in self._groups.values() for loc in group.locations)
        return parts + sum(kept[0] == mem for kept in self._kept)

    def read_stored(self, mem: str, index: int) -> None:
        mem = mem or self.read_storage
        self._use_storage(mem)
        engine = self._engine()
        try:
            pdu = info.parse_read(engine.command(f"AT+CMGR={index}", 10))
        except CmsError as exc:
            log.debug("stored message %s/%d gone: %s", mem, index, exc)
            return
        if pdu is not None:
            self.take(pdu, (mem, index))

    def _use_storage(self, mem: str) -> None:
        if mem and mem != self.status.storage:
            self._engine().command(f'AT+CPMS="{mem}"', self._timeout)
            self.status.storage = mem

    def take(self, pdu: str, location: tuple[str, int] | None) -> None:
        """Decode, reassemble, hand over, then delete what was stored."""
        try:
            # Tolerant: a slip in the user data must not cost a STOP; what was wrong is
            # kept with the message.
            message = decode_pdu(pdu, tolerant=True)
        except CodecError as exc:
            log.error("undecodable SMS PDU %s: %s", pdu, exc)
            self._hand_over(_undecodable(pdu, str(exc)), [location] if location else [])
            return
        if isinstance(message, Deliver) and message.damage:
            log.warning("damaged SMS PDU from %s (%s): %s", message.sender, message.damage, pdu)
        if isinstance(message, StatusReport):
            if self._on_report is not None:
                self._on_report(message)
            if location is not None:
                self._delete([location])
            return
        if not isinstance(message, Deliver):
            log.warning("ignored stored SMS of unexpected type %s", type(message).__name__)
            if location is not None:
                self._kept.add(location)
            return
        key = _group_key(message)
        if key is not None and location is not None:
            group = self._groups.setdefault(key, _Group())
            if location not in group.locations:
                group.locations.append(location)
        complete = self._reassembler.feed(message, time.monotonic())
        if complete is None:
            return
        locations = self._groups.pop(key, _Group()).locations if key else []
        if key is None and location is not None:
            locations = [location]
        self._hand_over(complete, locations)

    def flush_expired(self) -> None:
        for message in self._reassembler.expired(time.monotonic()):
            key = _group_key(message)
            locations = self._groups.pop(key, _Group()).locations if key else []
            log.warning(
                "long SMS from %s incomplete after timeout; handing over what came", message.sender
            )
            try:
                self._hand_over(message, locations)
            except ModemError as exc:
                log.warning("could not delete expired parts: %s", exc)

    def _hand_over(self, message: Deliver, locations: list[tuple[str, int]]) -> None:
        try:
            self._on_sms(message)
        except KeepForLater as exc:
            log.debug("inbound SMS kept on the modem: %s", exc)
            return
        except Exception:
            # Not deleted: the next sweep (at the next look at the storage) hands it over again.
            log.exception("inbound SMS handler failed; message kept on the modem")
            self._left_behind.update(mem for mem, _ in locations)
            return
        self._delete(locations)

    def _delete(self, locations: list[tuple[str, int]]) -> None:
        for mem, index in locations:
            self._use_storage(mem)
            self._engine().command(f"AT+CMGD={index}", 10)
            self._kept.discard((mem, index))
        self._use_storage(self.read_storage)

    # -------------------------------------------------------------------------- helpers


def _group_key(message: Deliver) -> tuple[str, int, int] | None:
    if message.concat is None:
        return None
    return (message.sender, message.concat.reference, message.concat.total)


def _undecodable(pdu: str, reason: str) -> Deliver:
    """A stand-in so an undecodable SMS still reaches the operators instead of vanishing:
    its sender when that much can be read, and its raw PDU."""
    return Deliver(
        sender=read_sender(pdu) or "",
        text=f"(SMS illisible: {reason})",
        timestamp=datetime.now(UTC),
        encoding=None,
        concat=None,
        smsc=None,
        damage=reason,
        pdu="".join(pdu.split()).upper(),
    )
