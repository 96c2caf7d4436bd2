"""The modem as the rest of modemd sees it: bring-up, send, receive, and staying connected.

``Modem.start`` opens the port and runs the bring-up; when the port vanishes later, a worker
thread reopens it with backoff and runs the bring-up again, so callers only see ``ready`` go
false for a while and transient ``ConnectionLost`` errors. Inbound SMS are read from storage on
``+CMTI`` (any storage), taken from ``+CMT``, and swept from every storage at each bring-up so
nothing that arrived while modemd was down is missed. A stored message is deleted only after the
handler it was handed to has returned.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from modemd.config import ModemConfig
from modemd.modem import info
from modemd.modem.at import AtEngine, Urc
from modemd.modem.errors import (
    CmeError,
    CmsError,
    CommandFailed,
    ConnectionLost,
    ModemError,
    SimError,
    Stage,
)
from modemd.modem.profiles import ModemProfile, select_profile
from modemd.modem.references import ReferenceCounter
from modemd.modem.transport import PortSettings, Transport, open_transport
from modemd.phone import normalize
from modemd.sms.parts import Encoding, Reassembler, split
from modemd.sms.pdu import (
    CodecError,
    Deliver,
    StatusReport,
    SubmitPdu,
    decode_pdu,
    encode_submit,
)

log = logging.getLogger(__name__)

SmsHandler = Callable[[Deliver], None]
ReportHandler = Callable[[StatusReport], None]
StateHandler = Callable[[str, str], None]


@dataclass
class ModemStatus:
    """What ``status`` and ``doctor`` show; refreshed at bring-up and by ``refresh``."""

    port: str
    state: str = "starting"  # starting | ready | lost | failed | stopped
    detail: str = ""
    profile: str = ""
    manufacturer: str = ""
    model: str = ""
    revision: str = ""
    imei: str = ""
    imsi: str = ""
    smsc: str | None = None
    storage: str = ""
    storages: tuple[str, ...] = ()
    cnmi: str = ""
    status_reports: bool = False
    signal: info.Signal = field(default_factory=lambda: info.Signal(99))
    registration: int | None = None
    operator: str | None = None
    since: float = field(default_factory=time.time)

    @property
    def registered(self) -> bool:
        return self.registration in info.REGISTERED

    @property
    def registration_text(self) -> str:
        if self.registration is None:
            return "unknown"
        return info.REGISTRATION.get(self.registration, f"state {self.registration}")


@dataclass
class _Group:
    """Where the stored parts of one message sit, deleted together once it is handed over."""

    locations: list[tuple[str, int]] = field(default_factory=list)


class Modem:
    def __init__(
        self,
        config: ModemConfig,
        *,
        on_sms: SmsHandler,
        on_status_report: ReportHandler | None = None,
        on_state: StateHandler | None = None,
        references: ReferenceCounter | None = None,
        transport_factory: Callable[[PortSettings], Transport] = open_transport,
        reassembly_timeout: float = 3600.0,
        receive: bool = True,
    ) -> None:
        self.config = config
        self.status = ModemStatus(port=config.port)
        self._on_sms = on_sms
        self._on_report = on_status_report
        self._on_state = on_state
        self._references = references or ReferenceCounter(None)
        self._open = transport_factory
        self._engine: AtEngine | None = None
        self._profile: ModemProfile = select_profile("generic")
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._jobs: queue.Queue[tuple[str, object]] = queue.Queue()
        self._reassembler = Reassembler(timeout=reassembly_timeout)
        self._groups: dict[tuple[str, int, int], _Group] = {}
        self._pin_rejected = False
        self._worker: threading.Thread | None = None
        self._read_storage = ""
        # False for diagnostics (doctor): stored SMS are left alone for the daemon to take.
        self._receive = receive

    # ------------------------------------------------------------------------- lifecycle
    def start(self, wait: bool = True) -> None:
        """Open and bring up the modem. With ``wait``, errors of the first attempt are raised
        (a wrong PIN or a missing port should stop a command at once); later losses are
        recovered in the background."""
        if wait:
            self._connect()
        self._worker = threading.Thread(target=self._work, name="modem-worker", daemon=True)
        self._worker.start()
        if not wait:
            self._jobs.put(("reconnect", None))

    def stop(self) -> None:
        self._stopping.set()
        self._jobs.put(("stop", None))
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout=5)
        self._close_engine()
        self._set_state("stopped", "")

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    # ------------------------------------------------------------------------- sending
    def compose(
        self,
        recipient: str,
        text: str,
        encoding: Encoding,
        *,
        status_report: bool | None = None,
        validity: timedelta | None = None,
        concat_reference: int | None = None,
    ) -> list[SubmitPdu]:
        """The PDUs of one SMS (several when long). A long message gets a fresh
        concatenation reference unless one is given (a resumed message keeps its own)."""
        number = normalize(recipient)
        reports = self.config.delivery_reports if status_report is None else status_report
        reference = concat_reference
        if reference is None and len(split(text, encoding)) > 1:
            reference = self.next_reference()
        return encode_submit(
            number,
            text,
            encoding,
            status_report=reports,
            validity=validity,
            concat_reference=reference,
        )

    def next_reference(self) -> int:
        return self._references.next()

    def send_pdu(self, pdu: SubmitPdu) -> int:
        """Send one part; return the network's message reference (for status reports)."""
        engine = self._engine_or_raise()
        lines = engine.send_pdu(
            pdu.tpdu_length,
            pdu.hex,
            prompt_timeout=self.config.command_timeout * 2,
            final_timeout=max(self.config.send_timeout, self._profile.send_timeout),
        )
        return info.parse_message_reference(lines)

    def send_sms(
        self,
        recipient: str,
        text: str,
        encoding: Encoding,
        *,
        status_report: bool | None = None,
        validity: timedelta | None = None,
    ) -> list[int]:
        """Compose and send every part; return the message references in order."""
        pdus = self.compose(
            recipient, text, encoding, status_report=status_report, validity=validity
        )
        return [self.send_pdu(pdu) for pdu in pdus]

    def command(self, command: str, timeout: float | None = None) -> list[str]:
        """Run one AT command (for health checks and doctor)."""
        return self._engine_or_raise().command(command, timeout or self.config.command_timeout)

    def refresh(self) -> ModemStatus:
        """Re-read signal, registration and operator."""
        self.status.signal = info.parse_csq(self._quiet("AT+CSQ"))
        self.status.registration = self._registration()
        self.status.operator = info.parse_operator(self._quiet("AT+COPS?"))
        return self.status

    def _engine_or_raise(self) -> AtEngine:
        engine = self._engine
        if engine is None or not self._ready.is_set() or engine.lost is not None:
            raise ConnectionLost(f"modem on {self.config.port} is not connected")
        return engine

    # -------------------------------------------------------------------------- bring-up
    def _connect(self) -> None:
        """Open the port and bring the modem up; on failure leave nothing open."""
        self._close_engine()
        settings = PortSettings(
            self.config.port, self.config.baudrate, self.config.rtscts, self.config.xonxoff
        )
        transport = self._open(settings)
        self._engine = AtEngine(transport, self._urc, self._lost)
        try:
            self._bring_up()
        except BaseException:
            self._close_engine()
            raise
        self._set_state("ready", f"{self.status.manufacturer} {self.status.model}".strip())
        self._ready.set()
        if self._receive:
            self._jobs.put(("sweep", None))

    def _bring_up(self) -> None:
        assert self._engine is not None
        cmd = self._init_command
        self._engine.resync(attempts=3, timeout=self.config.command_timeout)
        cmd("ATE0")
        cmd("AT+CMEE=1")
        st = self.status
        st.manufacturer = info.first_value_line(self._quiet("AT+CGMI"))
        st.model = info.first_value_line(self._quiet("AT+CGMM"))
        st.revision = info.first_value_line(self._quiet("AT+CGMR"))
        st.imei = info.first_value_line(self._quiet("AT+CGSN"))
        self._profile = select_profile(self.config.profile, st.manufacturer)
        st.profile = self._profile.name
        self._unlock_sim()
        st.imsi = info.first_value_line(self._quiet("AT+CIMI"))
        cmd("AT+CMGF=0")
        for vendor in self._profile.init_commands:
            self._quiet(vendor)
        self._setup_smsc()
        self._setup_storage()
        self._setup_notifications()
        self.refresh()
        log.info(
            "modem up on %s: %s %s (%s), signal %s, %s, operator %s, storage %s",
            self.config.port,
            st.manufacturer,
            st.model,
            st.profile,
            st.signal.quality,
            st.registration_text,
            st.operator or "none",
            st.storage,
        )

    def _init_command(self, command: str) -> list[str]:
        assert self._engine is not None
        # Just after boot or PIN entry a SIM answers "busy" for a moment: retry those.
        for attempt in range(10):
            try:
                return self._engine.command(command, self.config.command_timeout, stage=Stage.INIT)
            except (CmsError, CmeError) as exc:
                if not exc.transient or attempt == 9:
                    raise
            time.sleep(0.3)
        raise AssertionError("unreachable")

    def _quiet(self, command: str) -> list[str]:
        """A command whose refusal is worth a log line, not a failed bring-up."""
        assert self._engine is not None
        try:
            return self._engine.command(command, self.config.command_timeout)
        except (CommandFailed, CmsError, CmeError) as exc:
            log.debug("%s refused: %s", command, exc)
            return []

    def _unlock_sim(self) -> None:
        assert self._engine is not None
        try:
            lines = self._init_command("AT+CPIN?")
        except CmeError as exc:
            if exc.code in (10, 13, 15):
                raise SimError(
                    f"SIM problem: {exc.meaning} (check the SIM card is inserted)"
                ) from exc
            raise
        state = lines[0].split(":", 1)[1].strip() if lines and ":" in lines[0] else "READY"
        if state == "READY":
            return
        if state == "SIM PUK":
            raise SimError(
                "the SIM is blocked and asks for its PUK: unlock it in a phone, then restart"
            )
        if state != "SIM PIN":
            raise SimError(f"the SIM asks for {state}, which modemd cannot provide")
        if self.config.pin is None:
            raise SimError("the SIM asks for a PIN: set modem.pin in the configuration")
        if self._pin_rejected:
            raise SimError("the SIM PIN was rejected earlier; not trying again (fix modem.pin)")
        try:
            self._engine.command(
                f'AT+CPIN="{self.config.pin}"',
                self.config.command_timeout,
                stage=Stage.INIT,
                secret=True,
            )
        except (CmeError, CommandFailed) as exc:
            self._pin_rejected = True
            raise SimError(
                "the SIM rejected the PIN in modem.pin; modemd will not try again, to keep the "
                "remaining attempts: correct modem.pin (or unlock the SIM in a phone), then "
                "restart"
            ) from exc
        log.info("SIM PIN accepted")

    def _setup_smsc(self) -> None:
        smsc = info.parse_smsc(self._quiet("AT+CSCA?"))
        if smsc is None and self.config.smsc:
            number = normalize(self.config.smsc)
            self._init_command(f'AT+CSCA="{number}",145')
            smsc = number
            log.info("SMS centre set to %s from modem.smsc", number)
        self.status.smsc = smsc
        if smsc is None:
            log.warning("the SIM has no SMS centre number: set modem.smsc (else sends fail)")

    def _setup_storage(self) -> None:
        offered = info.parse_storages(self._quiet("AT+CPMS=?"))
        self.status.storages = offered
        wanted = self.config.storage
        if wanted == "auto":
            choices = [m for m in self._profile.storages if m in offered] or list(offered[:1])
            wanted = choices[0] if choices else "SM"
        elif offered and wanted not in offered:
            raise ModemError(
                f"modem.storage {wanted} is not offered by this modem (it offers "
                f"{', '.join(offered)})",
                stage=Stage.INIT,
            )
        self._init_command(f'AT+CPMS="{wanted}","{wanted}","{wanted}"')
        self.status.storage = self._read_storage = wanted

    def _setup_notifications(self) -> None:
        for candidate in self._profile.cnmi:
            if not self.config.delivery_reports and candidate.split(",")[3] != "0":
                continue
            try:
                self._init_command(candidate)
            except (CommandFailed, CmsError, CmeError):
                continue
            self.status.cnmi = candidate
            self.status.status_reports = candidate.split(",")[3] != "0"
            return
        raise ModemError("the modem refused every +CNMI setting", stage=Stage.INIT)

    def _registration(self) -> int | None:
        for command in ("AT+CEREG?", "AT+CREG?", "AT+CGREG?"):
            stat = info.parse_registration(self._quiet(command))
            if stat in info.REGISTERED:
                return stat
        return info.parse_registration(self._quiet("AT+CREG?"))

    # ----------------------------------------------------------------------- URC intake
    def _urc(self, urc: Urc) -> None:
        # Called on the reader thread: only queue work, never issue a command here.
        if not self._receive:
            log.debug("unsolicited (not receiving): %r", urc.line)
        elif urc.name in ("+CMTI", "+CDSI"):
            where = info.parse_index_urc(urc.line)
            if where is not None:
                self._jobs.put(("read", where))
        elif urc.name in ("+CMT", "+CDS") and urc.pdu is not None:
            self._jobs.put(("pdu", urc.pdu))
        elif urc.name in ("+CREG", "+CGREG", "+CEREG"):
            log.debug("registration: %s", urc.line)
        else:
            log.debug("unsolicited: %r", urc.line)

    def _lost(self, exc: ModemError) -> None:
        self._ready.clear()
        if not self._stopping.is_set():
            self._jobs.put(("reconnect", exc))

    # --------------------------------------------------------------------------- worker
    def _work(self) -> None:
        while True:
            try:
                kind, arg = self._jobs.get(timeout=1.0)
            except queue.Empty:
                self._flush_expired()
                continue
            if kind == "stop" or self._stopping.is_set():
                return
            try:
                if kind == "reconnect":
                    self._reconnect(arg)
                elif kind == "sweep":
                    self._sweep()
                elif kind == "read" and isinstance(arg, tuple):
                    self._read_stored(arg[0], arg[1])
                elif kind == "pdu" and isinstance(arg, str):
                    self._take(arg, None)
            except ConnectionLost:
                continue  # the reconnect job is already queued
            except ModemError as exc:
                log.warning("modem %s failed: %s", kind, exc)

    def _reconnect(self, cause: object) -> None:
        if self._ready.is_set() and self._engine is not None and self._engine.lost is None:
            return  # a duplicate request
        self._ready.clear()
        if cause is None:
            self._set_state("starting", "opening the port")
            log.info("opening modem on %s", self.config.port)
        else:
            self._set_state("lost", str(cause))
            log.warning("modem on %s lost (%s); reopening", self.config.port, cause)
        delay = 0.1
        while not self._stopping.is_set():
            try:
                self._connect()
                if cause is not None:
                    log.info("modem on %s is back", self.config.port)
                return
            except SimError as exc:
                self._set_state("failed", str(exc))
                log.error("%s", exc)
                return  # needs a person; retrying would burn PIN attempts
            except ModemError as exc:
                self._set_state("lost", str(exc))
                log.debug("reopen failed: %s", exc)
            self._stopping.wait(delay)
            delay = min(delay * 2, self.config.reconnect_max_delay)

    def _sweep(self) -> None:
        """Hand over every message stored while nobody was listening."""
        for mem in self.status.storages or (self._read_storage,):
            try:
                self._use_storage(mem)
                listed = info.parse_listing(self._engine_or_raise().command("AT+CMGL=4", 30))
            except (CmsError, CmeError, CommandFailed) as exc:
                log.debug("cannot list storage %s: %s", mem, exc)
                continue
            for stored in listed:
                self._take(stored.pdu, (mem, stored.index))
        self._use_storage(self._read_storage)

    def _read_stored(self, mem: str, index: int) -> None:
        mem = mem or self._read_storage
        self._use_storage(mem)
        engine = self._engine_or_raise()
        try:
            pdu = info.parse_read(engine.command(f"AT+CMGR={index}", 10))
        except CmsError as exc:
            log.debug("stored message %s/%d gone: %s", mem, index, exc)
            return
        if pdu is not None:
            self._take(pdu, (mem, index))

    def _use_storage(self, mem: str) -> None:
        if mem and mem != self.status.storage:
            self._engine_or_raise().command(f'AT+CPMS="{mem}"', self.config.command_timeout)
            self.status.storage = mem

    def _take(self, pdu: str, location: tuple[str, int] | None) -> None:
        """Decode, reassemble, hand over, then delete what was stored."""
        try:
            message = decode_pdu(pdu)
        except CodecError as exc:
            log.error("undecodable SMS PDU %s: %s", pdu, exc)
            self._hand_over(_undecodable(pdu, str(exc)), [location] if location else [])
            return
        if isinstance(message, StatusReport):
            if self._on_report is not None:
                self._on_report(message)
            if location is not None:
                self._delete([location])
            return
        if not isinstance(message, Deliver):
            log.warning("ignored stored SMS of unexpected type %s", type(message).__name__)
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

    def _flush_expired(self) -> None:
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
        except Exception:
            # Not deleted: the next sweep hands it over again.
            log.exception("inbound SMS handler failed; message kept on the modem")
            return
        self._delete(locations)

    def _delete(self, locations: list[tuple[str, int]]) -> None:
        for mem, index in locations:
            self._use_storage(mem)
            self._engine_or_raise().command(f"AT+CMGD={index}", 10)
        self._use_storage(self._read_storage)

    # -------------------------------------------------------------------------- helpers
    def _close_engine(self) -> None:
        engine, self._engine = self._engine, None
        self._ready.clear()
        if engine is not None:
            engine.close()

    def _set_state(self, state: str, detail: str) -> None:
        changed = state != self.status.state
        self.status.state, self.status.detail = state, detail
        if changed:
            self.status.since = time.time()
            if self._on_state is not None:
                self._on_state(state, detail)


def _group_key(message: Deliver) -> tuple[str, int, int] | None:
    if message.concat is None:
        return None
    return (message.sender, message.concat.reference, message.concat.total)


def _undecodable(pdu: str, reason: str) -> Deliver:
    """A stand-in so an undecodable SMS still reaches the operators instead of vanishing."""
    return Deliver(
        sender="",
        text=f"(SMS illisible: {reason}; PDU {pdu})",
        timestamp=datetime.now(UTC),
        encoding=None,
        concat=None,
        smsc=None,
    )
