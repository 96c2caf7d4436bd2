"""The AT engine: one reader of the port, one command in flight, URCs told apart by prefix.

Every line the modem sends is exactly one of: an intermediate response to the command in flight,
a final result that ends it, the ``> `` prompt of ``AT+CMGS``, or an unsolicited result (URC).
The decision is made on the line's text alone (its prefix and the command in flight), never on
timing, so a ``+CMTI`` in the middle of an ``AT+CMGS`` exchange or three in one burst are each
delivered. The waiter for a command is registered before the command is written, every wait
has a timeout, and after a timeout the engine resynchronises on a marker reply so a late answer
can never be taken for the answer to the next command. The marker is a query whose answer line
nothing else asks for; a modem whose firmware refuses it (``ERROR``) is answering, and the next
marker of the list is used instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from modemd.modem.errors import (
    CmeError,
    CmsError,
    CommandFailed,
    CommandTimeout,
    ConnectionLost,
    ModemError,
    ModemUnresponsive,
    Stage,
)
from modemd.modem.transport import Transport

log = logging.getLogger(__name__)

CTRL_Z = b"\x1a"
ESC = b"\x1b"

FINAL_OK = frozenset({"OK"})
FINAL_ERRORS = frozenset(
    {"ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "COMMAND NOT SUPPORT"}
)

# Lines that are unsolicited unless the command in flight asked for that very prefix
# (``AT+CREG?`` answers ``+CREG: 0,1``, which is otherwise a registration URC).
URC_PREFIXES: tuple[str, ...] = (
    "+CMTI:",
    "+CMT:",
    "+CDS:",
    "+CDSI:",
    "+CBM:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CPIN:",
    "+CUSD:",
    "+CRING:",
    "+CLIP:",
    "+CIEV:",
    "+CTZV:",
    "+CTZE:",
    "+CFUN:",
    "+QIND:",
    "+QUSIM:",
    "^RSSI:",
    "^HCSQ:",
    "^MODE:",
    "^SRVST:",
    "^SIMST:",
    "^BOOT:",
    "^DSFLOWRPT:",
    "^NWTIME:",
    "^SYSINFOEX:",
    "^STIN:",
    "^CEND:",
    "^ORIG:",
    "^CONF:",
    "^CONN:",
    "^NDISSTAT:",
)
URC_WORDS = frozenset({"RING", "RDY", "SMS DONE", "PB DONE", "+PACSP0", "+PACSP1", "*ATREADY"})
# URCs whose header line is followed by one PDU line that belongs to them.
TWO_LINE_URCS: tuple[str, ...] = ("+CMT:", "+CDS:")

# Resynchronisation markers, in order of preference: queries answered with a line of their
# own. Not every firmware implements every read form (some refuse AT+CMEE?), so a refused
# marker gives way to the next; AT+CSQ, which every modem answers, is the last resort (last
# because health checks send it too, and a late answer to one could pass for the marker).
DEFAULT_MARKERS: tuple[str, ...] = ("AT+CMEE?", "AT+CSCS?", "AT+CSQ")
RESYNC_ATTEMPTS = 3  # markers left unanswered before the modem is declared silent
RESYNC_TIMEOUT = 2.0  # seconds each waits
_REFUSALS = 2  # refusals of one marker before the next is tried (one may be a late ERROR)
# The reader blocks this long at most for bytes: ``close`` wakes it at once on a serial port,
# so this only bounds how long it lingers on transports that cannot be woken (sockets).
# Idle, it costs a wake-up every READ_WAIT seconds, not five a second.
READ_WAIT = 10.0


@dataclass(frozen=True)
class Urc:
    """An unsolicited result: its line and, for ``+CMT``/``+CDS``, the PDU line after it."""

    line: str
    pdu: str | None = None

    @property
    def name(self) -> str:
        return self.line.split(":", 1)[0] if ":" in self.line else self.line


@dataclass
class _Pending:
    command: str
    prefix: str | None
    sync: bool = False
    expects_prompt: bool = False
    data_echo: str | None = None
    lines: list[str] = field(default_factory=list)
    final: str | None = None
    error: ModemError | None = None
    synced: bool = False
    sync_seen: int = 0  # marker lines seen so far (resynchronisation)
    sync_needed: int = 1
    refused: bool = False  # an error final result came instead of the marker line
    prompt: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


def response_prefix(command: str) -> str | None:
    """The info-line prefix a command's answer uses: ``AT+CPMS="SM"`` -> ``+CPMS:``."""
    body = command[2:] if command[:2].upper() == "AT" else command
    if not body or body[0] not in "+^$*#%":
        return None
    name = body
    for stop in "=?;":
        name = name.split(stop, 1)[0]
    return name.upper() + ":"


def is_urc(line: str) -> bool:
    return line.startswith(URC_PREFIXES) or line in URC_WORDS


def _clean(raw: bytes) -> str:
    # A modem's garbage (noise, a half-lost byte, line noise after a reset) must never kill the
    # reader: decode with replacement and drop what cannot be part of an AT line.
    text = raw.decode("utf-8", errors="replace")
    return "".join(ch for ch in text if ch.isprintable() and ch != "\ufffd").strip()


class LineSplitter:
    """Turns a byte stream into lines and prompts, however the bytes are chunked."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes, prompt_expected: bool) -> list[str | None]:
        """Return complete lines in order; ``None`` stands for a ``> `` prompt."""
        events: list[str | None] = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                line = _clean(bytes(self._buffer))
                self._buffer.clear()
                if line:
                    events.append(line)
                continue
            self._buffer.append(byte)
            if self._is_prompt(prompt_expected):
                events.append(None)
                self._buffer.clear()
        return events

    def _is_prompt(self, prompt_expected: bool) -> bool:
        # The prompt is "> " at the start of a line and is not followed by a line end.
        stripped = bytes(self._buffer).lstrip(b"\x00")
        return stripped == b"> " or (prompt_expected and stripped == b">")


class FairLock:
    """A lock granted in the order it was asked for.

    A plain Lock lets the thread that releases it take it again at once, so a dispatcher
    sending SMS back to back would starve the reader of a waiting +CMTI (a STOP) for the
    whole fan-out. With this lock the inbound read goes right after the current send.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._cond.wait_for(lambda: self._serving == ticket)

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


UrcHandler = Callable[[Urc], None]
LostHandler = Callable[[ModemError], None]


class AtEngine:
    """Owns the transport: a reader thread parses lines; ``command`` runs one at a time."""

    def __init__(
        self,
        transport: Transport,
        on_urc: UrcHandler,
        on_lost: LostHandler | None = None,
        markers: tuple[str, ...] = DEFAULT_MARKERS,
    ) -> None:
        if not markers:
            raise ValueError("at least one resynchronisation marker is needed")
        self._markers = list(markers)  # the one that works first
        self._transport = transport
        self._on_urc = on_urc
        self._on_lost = on_lost
        self._splitter = LineSplitter()
        self._lock = FairLock()  # one command in flight, taken in arrival order
        self._state = threading.Lock()  # guards _pending between reader and caller
        self._pending: _Pending | None = None
        self._urc_header: str | None = None
        self._lost: ModemError | None = None
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name="modem-reader", daemon=True)
        self._reader.start()

    # ----------------------------------------------------------------------------- lifecycle
    @property
    def lost(self) -> ModemError | None:
        return self._lost

    @property
    def markers(self) -> tuple[str, ...]:
        """The resynchronisation markers, the one this modem answers first."""
        return tuple(self._markers)

    def close(self) -> None:
        self._stop.set()
        self._transport.close()
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout=2)
        self._fail(ConnectionLost("modem port closed"), notify=False)

    # ------------------------------------------------------------------------------ commands
    def command(
        self,
        command: str,
        timeout: float = 5.0,
        *,
        stage: Stage = Stage.COMMAND,
        secret: bool = False,
    ) -> list[str]:
        """Send one command; return its intermediate lines, raise on an error final result."""
        shown = command.split("=", 1)[0] + "=****" if secret else command
        with self._lock:
            pending = self._register(_Pending(command, response_prefix(command)))
            log.debug("-> %s", shown)
            self._write(command.encode("ascii") + b"\r")
            if not pending.done.wait(timeout):
                self._unregister()
                self._resync_locked()
                raise CommandTimeout(f"no answer to {shown} within {timeout:g} s", stage=stage)
            self._unregister()
            return self._result(pending, shown, stage)

    def send_pdu(
        self,
        length: int,
        pdu_hex: str,
        *,
        prompt_timeout: float = 10.0,
        final_timeout: float = 60.0,
    ) -> list[str]:
        """``AT+CMGS=<length>``, wait for the prompt, send the PDU, wait for ``+CMGS: <mr>``."""
        command = f"AT+CMGS={length}"
        with self._lock:
            pending = self._register(
                _Pending(command, "+CMGS:", expects_prompt=True, data_echo=pdu_hex)
            )
            log.debug("-> %s", command)
            self._write(command.encode("ascii") + b"\r")
            if not pending.prompt.wait(prompt_timeout) and not pending.done.is_set():
                self._unregister()
                self._write(ESC)  # leave the prompt state if it came late
                self._resync_locked()
                raise CommandTimeout(f"no '> ' prompt after {command}", stage=Stage.SEND)
            if pending.done.is_set():  # an error instead of the prompt
                self._unregister()
                return self._result(pending, command, Stage.SEND)
            log.debug("-> <pdu %d octets>", length)
            self._write(pdu_hex.encode("ascii") + CTRL_Z)
            if not pending.done.wait(final_timeout):
                self._unregister()
                self._resync_locked()
                raise CommandTimeout(
                    f"no network answer to {command} within {final_timeout:g} s", stage=Stage.SEND
                )
            self._unregister()
            return self._result(pending, command, Stage.SEND)

    def resync(self, attempts: int = RESYNC_ATTEMPTS, timeout: float = RESYNC_TIMEOUT) -> None:
        """Make sure the next reply read is the reply to the next command written."""
        with self._lock:
            self._resync_locked(attempts, timeout)

    def _resync_locked(
        self, attempts: int = RESYNC_ATTEMPTS, timeout: float = RESYNC_TIMEOUT
    ) -> None:
        # Modems answer in order, so everything before our marker line is a late reply to an
        # earlier command and is dropped; the final result after the marker closes the gap.
        # The k-th marker written waits for the k-th marker line: if an earlier marker is
        # answered late, its answer must not be mistaken for this one's, leaving this one's
        # answer to be taken for the reply to the next command.
        # ESC first: a modem left waiting for a PDU after '> ' (its host killed mid-send)
        # would otherwise swallow the marker as PDU text. In command mode it is ignored.
        # An error instead of the marker line is an answer, not silence: after _REFUSALS of
        # them (the first may be a late ERROR to the command that timed out) the next marker
        # is tried. Only markers left unanswered count towards ``attempts``.
        pending = self._register(_Pending(self._markers[0], None, sync=True, sync_needed=0))
        unanswered = refusals = tried = 0
        try:
            while unanswered < attempts:
                if self._lost is not None:
                    raise self._lost
                marker = self._markers[0]
                with self._state:
                    if pending.command != marker:
                        pending.command, pending.sync_seen, pending.sync_needed = marker, 0, 0
                    pending.prefix = response_prefix(marker)
                    pending.sync_needed += 1
                    pending.refused = False
                    pending.done.clear()
                self._write(ESC + marker.encode("ascii") + b"\r")
                if not pending.done.wait(timeout):
                    unanswered += 1
                    continue
                if pending.error is not None:
                    raise pending.error
                if not pending.refused:
                    return
                refusals += 1
                if refusals >= _REFUSALS:
                    log.debug("modem refuses the marker %s; trying the next", marker)
                    refusals, tried = 0, tried + 1
                    if tried >= len(self._markers):
                        raise CommandFailed(
                            f"every resynchronisation marker ({', '.join(self._markers)}) on "
                            f"{self._transport.name}",
                            stage=Stage.INIT,
                        )
                    self._markers.append(self._markers.pop(0))
        finally:
            self._unregister()
        raise ModemUnresponsive(f"modem on {self._transport.name} stopped answering")

    def _register(self, pending: _Pending) -> _Pending:
        if self._lost is not None:
            raise self._lost
        with self._state:
            self._pending = pending
        return pending

    def _unregister(self) -> None:
        with self._state:
            self._pending = None

    def _write(self, data: bytes) -> None:
        try:
            self._transport.write(data)
        except ConnectionLost as exc:
            self._fail(exc)
            raise

    def _result(self, pending: _Pending, shown: str, stage: Stage) -> list[str]:
        if pending.error is not None:
            raise pending.error
        final = pending.final or ""
        if final in FINAL_OK:
            return pending.lines
        if final.startswith("+CMS ERROR:"):
            raise CmsError(final.split(":", 1)[1].strip(), shown, stage=stage)
        if final.startswith("+CME ERROR:"):
            raise CmeError(final.split(":", 1)[1].strip(), shown, stage=stage)
        raise CommandFailed(shown, stage=stage)

    # -------------------------------------------------------------------------------- reader
    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._transport.read(READ_WAIT)
            except ConnectionLost as exc:
                if not self._stop.is_set():
                    self._fail(exc)
                return
            if not data:
                continue
            with self._state:
                expecting = self._pending is not None and self._pending.expects_prompt
            for event in self._splitter.feed(data, expecting):
                try:
                    self._dispatch(event)
                except Exception:  # a bug in a handler must not kill the only reader
                    log.exception("error while handling modem output %r", event)

    def _dispatch(self, line: str | None) -> None:
        with self._state:
            pending = self._pending
            if line is None:
                if pending is not None and pending.expects_prompt:
                    pending.prompt.set()
                return
            if not line:
                return
            if self._urc_header is not None:
                header, self._urc_header = self._urc_header, None
                urc = Urc(header, pdu=line)
            elif is_urc(line) and not _answers(pending, line):
                if line.startswith(TWO_LINE_URCS):
                    self._urc_header = line  # its PDU is the next line, whatever else is going on
                    return
                urc = Urc(line)
            elif pending is not None:
                self._feed_pending(pending, line)
                return
            elif _is_final(line):
                log.debug("dropped late reply %r", line)
                return
            else:
                urc = Urc(line)  # noise outside any command: the device decides what it is
        self._on_urc(urc)

    def _feed_pending(self, pending: _Pending, line: str) -> None:
        if pending.sync and not pending.synced:
            if pending.prefix is not None and line.startswith(pending.prefix):
                pending.sync_seen += 1
                pending.synced = pending.sync_seen >= pending.sync_needed
            elif _is_final(line) and line not in FINAL_OK:
                pending.refused = True
                pending.done.set()
            return
        if line in (pending.command, pending.data_echo) or CTRL_Z.decode() in line:
            return  # echo of the command or of the PDU
        if _is_final(line):
            pending.final = line
            pending.done.set()
            return
        pending.lines.append(line)

    def _fail(self, exc: ModemError, notify: bool = True) -> None:
        with self._state:
            if self._lost is not None:
                return
            self._lost = exc
            pending = self._pending
        if pending is not None:
            pending.error = exc
            pending.prompt.set()
            pending.done.set()
        if notify and self._on_lost is not None:
            self._on_lost(exc)


def _answers(pending: _Pending | None, line: str) -> bool:
    """True when a URC-looking line is the answer to the command in flight."""
    return pending is not None and pending.prefix is not None and line.startswith(pending.prefix)


def _is_final(line: str) -> bool:
    return (
        line in FINAL_OK or line in FINAL_ERRORS or line.startswith(("+CMS ERROR:", "+CME ERROR:"))
    )
