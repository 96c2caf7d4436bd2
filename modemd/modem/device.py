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
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from modemd.modem import info
from modemd.modem.at import AtEngine, Urc
from modemd.modem.errors import (
    CmeError,
    CmsError,
    CommandFailed,
    CommandTimeout,
    ConnectionLost,
    ModemError,
    ModemUnresponsive,
    SimError,
    Stage,
)
from modemd.modem.info import ModemStatus
from modemd.modem.pinguard import PinGuard
from modemd.modem.profiles import ModemProfile, select_profile
from modemd.modem.receiver import Receiver, ReportHandler, SmsHandler
from modemd.modem.references import ReferenceCounter
from modemd.modem.settings import ModemSettings
from modemd.modem.transport import PortSettings, Transport, find_stable_link, open_transport
from modemd.modem.upkeep import HealthCheck
from modemd.sms.parts import Encoding, split
from modemd.sms.pdu import (
    SubmitPdu,
    encode_submit,
)

log = logging.getLogger(__name__)

StateHandler = Callable[[str, str], None]


class Modem:
    def __init__(
        self,
        config: ModemSettings,
        *,
        on_sms: SmsHandler,
        on_status_report: ReportHandler | None = None,
        on_state: StateHandler | None = None,
        references: ReferenceCounter | None = None,
        transport_factory: Callable[[PortSettings], Transport] = open_transport,
        reassembly_timeout: float = 3600.0,
        receive: bool = True,
        pin_guard: Path | None = None,
    ) -> None:
        self.config = config
        self._pin_guard = PinGuard(pin_guard)
        self.status = ModemStatus(port=config.port)
        self._on_state = on_state
        self._references = references or ReferenceCounter(None)
        self._open = transport_factory
        self._engine: AtEngine | None = None
        self._profile: ModemProfile = select_profile("generic")
        # Resynchronisation markers for the next engine: the configured profile's, then in
        # the order learned (a marker this firmware refuses goes last).
        self._markers = (
            self._profile if config.profile == "auto" else select_profile(config.profile)
        ).sync_markers
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._jobs: queue.Queue[tuple[str, object]] = queue.Queue()
        self._receiver = Receiver(
            self._engine_or_raise,
            self.status,
            on_sms,
            on_status_report,
            reassembly_timeout=reassembly_timeout,
            command_timeout=config.command_timeout,
        )
        self._health = HealthCheck(
            self._engine_or_raise,
            self.status,
            self._receiver if receive else None,
            command_timeout=config.command_timeout,
            registration=self._registration,
            on_sim_trouble=lambda detail: self._set_state("failed", detail),
        )
        self._check_queued = threading.Event()
        self._pin_rejected = False
        self._worker: threading.Thread | None = None
        self._reg: dict[str, int | None] = {}  # +CREG / +CEREG / +CGREG stat
        self._send_timeouts = 0
        self._stable_link: str | None = None
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
        number = e164(recipient)
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

    def send_pdu(self, pdu: SubmitPdu) -> int | None:
        """Send one part; return the network's message reference (for status reports)."""
        engine = self._engine_or_raise()
        lines = engine.send_pdu(
            pdu.tpdu_length,
            pdu.hex,
            prompt_timeout=self.config.command_timeout * 2,
            final_timeout=max(self.config.send_timeout, self._profile.send_timeout),
        )
        return info.parse_message_reference(lines)

    @property
    def send_deadline(self) -> float:
        """The longest one ``send_pdu`` waits: the prompt, then the network's answer."""
        return self.config.command_timeout * 2 + max(
            self.config.send_timeout, self._profile.send_timeout
        )

    def send_sms(
        self,
        recipient: str,
        text: str,
        encoding: Encoding,
        *,
        status_report: bool | None = None,
        validity: timedelta | None = None,
    ) -> list[int | None]:
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

    def check(self) -> ModemStatus:
        """The periodic health check, one AT command (see modemd.modem.upkeep), run by the
        worker; a modem that does not answer it is reset."""
        if not self._check_queued.is_set():  # a slow worker never piles up checks
            self._check_queued.set()
            self._jobs.put(("check", None))
        return self.status

    def sweep(self, wait: float) -> bool:
        """Hand over every stored message now (on the worker), waiting up to ``wait`` s for
        it to be done; False if it was not done by then."""
        done = threading.Event()
        self._jobs.put(("sweep", done))
        return done.wait(wait)

    def report_send_trouble(self, exc: ModemError) -> None:
        """The dispatcher's AT+CMGS went unanswered: twice in a row means the modem hangs."""
        if isinstance(exc, ModemUnresponsive):
            self.reset(str(exc))
            return
        if isinstance(exc, CommandTimeout):
            self._send_timeouts += 1
            if self._send_timeouts >= 2:
                self.reset(f"{self._send_timeouts} sends unanswered")

    def report_send_ok(self) -> None:
        self._send_timeouts = 0

    def reset(self, cause: str) -> None:
        """Reset the modem (AT+CFUN=1,1, then reopen): done by the worker thread."""
        self._ready.clear()
        self._jobs.put(("reset", cause))

    def _reset(self, cause: str) -> None:
        log.warning("resetting the modem on %s: %s", self.config.port, cause)
        self._send_timeouts = 0
        engine = self._engine
        if engine is not None and engine.lost is None:
            try:
                engine.command(self._profile.reset_command, 5)
            except ModemError as exc:
                log.debug("reset command refused: %s", exc)
        self._close_engine()
        self._stopping.wait(1.0)  # let it reboot (USB modems re-enumerate meanwhile)
        self._reconnect(f"reset: {cause}")

    def _engine_or_raise(self) -> AtEngine:
        engine = self._engine
        if engine is None or not self._ready.is_set() or engine.lost is not None:
            raise ConnectionLost(f"modem on {self.config.port} is not connected")
        return engine

    # -------------------------------------------------------------------------- bring-up
    def _connect(self) -> None:
        """Open the port and bring the modem up; on failure leave nothing open."""
        self._close_engine()
        port = self._port_to_open()
        settings = PortSettings(port, self.config.baudrate, self.config.rtscts, self.config.xonxoff)
        transport = self._open(settings)
        self._engine = AtEngine(transport, self._urc, self._lost, markers=self._markers)
        try:
            self._bring_up()
        except BaseException:
            self._close_engine()
            raise
        if port != self.config.port:
            log.warning(
                "modem found again through %s (%s is gone): use that stable name in modem.port",
                port,
                self.config.port,
            )
        self._stable_link = self._stable_link or find_stable_link(
            self.config.stable_links, self.config.port
        )
        self._set_state("ready", f"{self.status.manufacturer} {self.status.model}".strip())
        self._ready.set()
        if self._receive:
            self._jobs.put(("sweep", None))

    def _port_to_open(self) -> str:
        """The configured port, or, when it has vanished, the stable link that pointed to
        the same device (a USB modem re-enumerated under another ttyUSB number)."""
        port = self.config.port
        if "://" in port or os.path.exists(port) or self._stable_link is None:
            return port
        return self._stable_link if os.path.exists(self._stable_link) else port

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
        wanted, learned = self._profile.sync_markers, self._engine.markers
        self._markers = learned if set(learned) == set(wanted) else wanted
        self._unlock_sim()
        st.imsi = info.first_value_line(self._quiet("AT+CIMI"))
        cmd("AT+CMGF=0")
        for vendor in self._profile.init_commands:
            self._quiet(vendor)
        self._setup_smsc()
        self._setup_storage()
        self._setup_notifications()
        urcs = [c for c in ("AT+CREG=1", "AT+CGREG=1", "AT+CEREG=1") if self._accepted(c)]
        self._health.registration_urcs = bool(urcs)  # else the health checks poll it
        self._reg = {}
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

    def _accepted(self, command: str) -> bool:
        assert self._engine is not None
        try:
            self._engine.command(command, self.config.command_timeout)
        except (CommandFailed, CmsError, CmeError) as exc:
            log.debug("%s refused: %s", command, exc)
            return False
        return True

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
        if self._pin_rejected or self._pin_guard.rejected(self.config.pin):
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
            self._pin_guard.remember(self.config.pin)
            raise SimError(
                "the SIM rejected the PIN in modem.pin; modemd will not try again, to keep the "
                "remaining attempts: correct modem.pin (or unlock the SIM in a phone), then "
                "restart"
            ) from exc
        log.info("SIM PIN accepted")
        self._pin_guard.forget()

    def _setup_smsc(self) -> None:
        smsc = info.parse_smsc(self._quiet("AT+CSCA?"))
        if smsc is None and self.config.smsc:
            # Checked and normalised with the configuration; separators as typed are dropped.
            number = re.sub(r"[\s.()-]", "", self.config.smsc)
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
        self.status.storage = self._receiver.read_storage = wanted

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
            if stat is not None:
                self._reg[command[2:-1]] = stat
        return self._best_registration()

    def _best_registration(self) -> int | None:
        # On 4G the circuit-switched +CREG may say "not registered" while SMS work over
        # +CEREG: registered on any of them is registered.
        known = [stat for stat in self._reg.values() if stat is not None]
        registered = [stat for stat in known if stat in info.REGISTERED]
        if registered:
            return registered[0]
        return known[0] if known else None

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
        elif urc.name == "+CPIN" and "READY" not in urc.line:
            self._jobs.put(("sim", None))  # the SIM went away or locked: see now, not in 10 min
        elif urc.name in ("+CREG", "+CGREG", "+CEREG"):
            stat = info.parse_registration([urc.line])
            self._reg[urc.name] = stat
            before, self.status.registration = self.status.registration, self._best_registration()
            if before != self.status.registration:
                log.info("network: %s", self.status.registration_text)
                self._jobs.put(("operator", None))  # perhaps another one now
                if self._on_state is not None:
                    self._on_state(self.status.state, self.status.registration_text)
        else:
            log.debug("unsolicited: %r", urc.line)

    def _lost(self, exc: ModemError) -> None:
        self._ready.clear()
        if not self._stopping.is_set():
            self._jobs.put(("reconnect", exc))

    # --------------------------------------------------------------------------- worker
    def _work(self) -> None:
        while True:
            # Idle, this thread sleeps until there is work, or until an unfinished long
            # SMS is due to be handed over as it is: no wake-ups in rounds.
            deadline = self._receiver.next_deadline()
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                kind, arg = self._jobs.get(timeout=wait)
            except queue.Empty:
                self._receiver.flush_expired()
                continue
            if kind == "stop" or self._stopping.is_set():
                return
            try:
                if kind == "reconnect":
                    self._reconnect(arg)
                elif kind == "reset":
                    self._reset(str(arg))
                elif kind == "sweep":
                    try:
                        self._receiver.sweep()
                    finally:
                        if isinstance(arg, threading.Event):
                            arg.set()  # someone waits for it (see sweep())
                elif kind == "read" and isinstance(arg, tuple):
                    self._receiver.read_stored(arg[0], arg[1])
                elif kind == "pdu" and isinstance(arg, str):
                    self._receiver.take(arg, None)
                elif kind == "check":
                    self._check_queued.clear()
                    self._run_check()
                elif kind == "operator":
                    self._health.read_operator()
                elif kind == "sim":
                    self._health.check_sim()
            except ConnectionLost:
                continue  # the reconnect job is already queued
            except ModemUnresponsive as exc:  # whatever asked, silence means a reset
                self.reset(f"{kind}: {exc}")
            except Exception as exc:  # the only worker: log, keep going, never die
                if not isinstance(exc, ModemError):
                    log.exception("modem worker error during %s", kind)
                    if kind == "reconnect":
                        self._jobs.put(("reconnect", exc))
                    continue
                log.warning("modem %s failed: %s", kind, exc)

    def _run_check(self) -> None:
        try:
            self._health.run()
        except (CommandTimeout, ModemUnresponsive) as exc:
            self.reset(f"health check: {exc}")

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


def e164(number: str) -> str:
    """The recipient as the PDU wants it. Numbers reach the modem already normalised (the
    registry stores E.164); anything else is refused rather than guessed at here."""
    if not re.fullmatch(r"\+[1-9]\d{5,14}", number):
        raise ValueError(f"not an E.164 number: {number!r}")
    return number
