"""The device side of the AT/PDU protocol: a simulated 4G modem with a SIM.

It is a real modem as far as the host can tell: it echoes, answers in the vendor's way, stores
inbound SMS and announces them, takes PDUs after a ``> `` prompt, decodes them with the project's
own codec and records what it "sent". It runs single-threaded inside a runner (see ``pty.py``)
that gives it two hooks: ``emit`` (bytes to the host) and ``schedule`` (a delayed call), so
latency and status reports need no threads and no sleeps.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from modemd.sim.commands import (
    CMS_COMMANDS,
    HANDLERS,
    SIM_GATED,
    VERBOSE,
    SimCommandError,
    parse_command,
    tpdu_octets,
)
from modemd.sim.profiles import SimProfile
from modemd.sms.gsm7 import is_gsm7
from modemd.sms.parts import Encoding
from modemd.sms.pdu import (
    CodecError,
    Concat,
    Submit,
    decode_submit,
    encode_deliver,
    encode_status_report,
)

CTRL_Z = 0x1A
ESC = 0x1B


@dataclass
class Faults:
    """What can go wrong, switched on per test or from ``modemd sim`` options."""

    cms_error_rate: float = 0.0  # share of sends answered with a transient +CMS ERROR
    cms_error_code: int = 38
    # recipient -> CMS code answered to its AT+CMGS; -1: a plain ERROR
    fail_numbers: dict[str, int] = field(default_factory=dict)
    hang_commands: tuple[str, ...] = ()  # commands (by prefix) that never get an answer
    # Commands (whole lines) answered with a plain ERROR, as firmware that lacks them does
    # (e.g. the read form AT+CMEE? on some modems).
    refuse_commands: tuple[str, ...] = ()
    lose_cmti: bool = False  # new SMS are stored but their +CMTI is lost (line noise)
    hang_cleared_by_reset: bool = False  # a wedged SMS stack that AT+CFUN=1,1 cures
    silent: bool = False  # a hung modem: swallows everything until power-cycled
    byte_at_a_time: bool = False  # output delivered one byte per write
    urc_inside_response: bool = False  # unsolicited lines between a response's lines
    garbage_rate: float = 0.0  # share of responses preceded by non-UTF-8 bytes
    late_commands: dict[str, float] = field(default_factory=dict)  # prefix -> answer delay (s)
    late_once: dict[str, float] = field(default_factory=dict)  # the same, for the next one only
    # Inbound SMS (sender, text) delivered right after the next "> " prompt, i.e. while the
    # host is in the middle of an AT+CMGS exchange.
    inbound_during_send: list[tuple[str, str]] = field(default_factory=list)
    send_latencies: list[float] = field(default_factory=list)  # the next sends' answer times
    seed: int = 1


@dataclass(frozen=True)
class SentSms:
    """One SMS-SUBMIT as the simulated network received it, decoded."""

    recipient: str
    text: str
    encoding: Encoding
    concat: Concat | None
    reference: int
    status_report: bool
    pdu: str
    at: float  # the answer (+CMGS): the latest the network can have counted it
    submitted_at: float = 0.0  # the PDU reached the network: the earliest it can count it


@dataclass
class _Stored:
    stat: int  # 0 unread, 1 read (27.005 PDU-mode status values)
    pdu: str


class SimulatedModem:
    def __init__(
        self,
        profile: SimProfile,
        faults: Faults | None = None,
        *,
        pin: str | None = None,
        puk: str = "12345678",
        smsc: str | None = "+33689004000",
        network: bool = True,
        signal: int = 20,
        send_latency: float | None = None,
        send_latency_max: float | None = None,
    ) -> None:
        self.profile = profile
        self.faults = faults or Faults()
        self.pin, self.puk = pin, puk
        self.smsc = smsc
        self.network = network
        self.signal = signal
        self.send_latency = profile.send_latency if send_latency is None else send_latency
        # With a maximum, each send takes a time drawn between the two (a busy cell).
        self.send_latency_max = send_latency_max
        self._latency_rng = random.Random(self.faults.seed + 1)
        self.sent: list[SentSms] = []
        self.on_sent: Callable[[SentSms], None] | None = None  # e.g. `modemd sim --record`
        self.commands: list[str] = []  # every command line received, for tests to inspect
        self.command_times: list[tuple[float, str]] = []  # the same with arrival times
        self.storage: dict[str, dict[int, _Stored]] = {mem: {} for mem in profile.storages}
        self.emit: Callable[[bytes], None] = lambda data: None
        self.schedule: Callable[[float, Callable[[], None]], None] = lambda delay, fn: None
        self._rng = random.Random(self.faults.seed)
        self._mr = 0
        self._inbound_ref = 0
        self._inbox = bytearray()
        self._line = bytearray()
        self._busy = False
        self._prompt_length: int | None = None
        self._pdu = bytearray()
        self.powered = False
        self._boot = 0
        self._reset_settings()
        self.pin_state = "READY"
        self.pin_attempts = 3
        self.puk_attempts = 10

    # ------------------------------------------------------------------------------ power
    def _reset_settings(self) -> None:
        self.echo = self.profile.echo_default
        self.cmee = 0
        self.cnmi = [0, 0, 0, 0, 0]
        mem = self.profile.default_storage
        self.cpms = [mem, mem, mem]
        self.noise = self.profile.noise_interval > 0
        self.reg_urc = 0

    def _after(self, delay: float, step: Callable[[], None]) -> None:
        """A delayed step of this power cycle only: a modem that restarts meanwhile never
        gives the answers it owed before (they must not reach the host's next session)."""
        boot = self._boot

        def run() -> None:
            if self._boot == boot:
                step()

        self.schedule(delay, run)

    def power_on(self) -> None:
        """Boot: settings back to defaults, the SIM locked again if it has a PIN, banners."""
        self._boot += 1
        self.powered = True
        self.faults.silent = False
        if self.faults.hang_cleared_by_reset:
            self.faults.hang_commands = ()
        self._reset_settings()
        self._inbox.clear()
        self._line.clear()
        self._busy = False
        self._prompt_length = None
        if self.pin is not None and self.pin_state == "READY":
            self.pin_state = "SIM PIN"
        for line in self.profile.boot_lines:
            if line != "+CPIN: READY" or self.pin_state == "READY":
                self._urc(line)
        if self.noise:
            self._after(self.profile.noise_interval, self._noise_tick)

    def power_off(self) -> None:
        self.powered = False

    # ------------------------------------------------------------------------- host input
    def receive(self, data: bytes) -> None:
        if self.faults.silent or not self.powered:
            return
        self._inbox.extend(data)
        self._pump()

    def _pump(self) -> None:
        while self._inbox and not self._busy and not self.faults.silent:
            byte = self._inbox.pop(0)
            if self._prompt_length is not None:
                self._pdu_byte(byte)
                continue
            if self.echo:
                self.emit(bytes([byte]))
            if byte == 0x0D:
                line = self._line.decode("ascii", errors="replace").strip()
                self._line.clear()
                if line:
                    self._command(line)
            elif byte >= 0x20:  # control bytes (a stray ESC, NUL) are not part of a command
                self._line.append(byte)

    def _pdu_byte(self, byte: int) -> None:
        if self.echo and byte not in (CTRL_Z, ESC):
            self.emit(bytes([byte]))
        if byte == ESC:  # the host gave up on the prompt
            self._prompt_length = None
            self._pdu.clear()
            self._final("OK")
        elif byte == CTRL_Z:
            length, self._prompt_length = self._prompt_length, None
            pdu = self._pdu.decode("ascii", errors="replace").strip()
            self._pdu.clear()
            self._submit(length or 0, pdu)
        elif byte not in (0x0D, 0x0A):
            self._pdu.append(byte)

    # --------------------------------------------------------------------------- commands
    def _command(self, line: str) -> None:
        self.commands.append(line)
        self.command_times.append((time.time(), line))
        if line.upper().startswith(tuple(c.upper() for c in self.faults.hang_commands)):
            return
        upper = line.upper()
        if not upper.startswith("AT") or upper in (c.upper() for c in self.faults.refuse_commands):
            self._final("ERROR")
            return
        name, kind, arg = parse_command(line)
        try:
            if upper in (c.upper() for c in self.profile.vendor_commands):
                if self.profile.noise_silencer and upper == self.profile.noise_silencer.upper():
                    self.noise = False
                lines: list[str] | None = []
            else:
                lines = self._execute(name, kind, arg)
        except SimCommandError as err:
            self._error(err)
            return
        if lines is None:  # the handler answers later by itself
            return
        delay = next(
            (
                d
                for prefix, d in self.faults.late_commands.items()
                if upper.startswith(prefix.upper())
            ),
            0.0,
        )
        for prefix in list(self.faults.late_once):
            if upper.startswith(prefix.upper()):
                delay = max(delay, self.faults.late_once.pop(prefix))
        if delay:
            self._busy = True
            self._after(delay, lambda: self._late(lines or []))
        else:
            self._respond(lines)

    def _late(self, lines: list[str]) -> None:
        self._busy = False
        if self.powered:
            self._respond(lines)
            self._pump()

    def _execute(self, name: str, kind: str, arg: str) -> list[str] | None:
        if name in SIM_GATED and self.pin_state != "READY":
            puk = self.pin_state == "SIM PUK"
            if name in CMS_COMMANDS:
                raise SimCommandError("cms", 316 if puk else 311)
            raise SimCommandError("cme", 12 if puk else 11)
        handler = HANDLERS.get(name)
        if handler is None:
            raise SimCommandError("plain")
        return handler(self, kind, arg)

    # ---------------------------------------------------------------------------- output
    def _respond(self, lines: list[str]) -> None:
        self._maybe_garbage()
        for i, line in enumerate(lines):
            self.emit(b"\r\n" + line.encode("utf-8") + b"\r\n")
            if self.faults.urc_inside_response and i == 0:
                self._urc(self.profile.noise_lines[0] if self.profile.noise_lines else "+CREG: 1")
        self._final("OK")

    def _final(self, text: str) -> None:
        self.emit(b"\r\n" + text.encode("ascii") + b"\r\n")

    def _error(self, err: SimCommandError) -> None:
        self._maybe_garbage()
        if err.kind == "plain" or self.cmee == 0:
            self._final("ERROR")
            return
        label = "+CMS ERROR" if err.kind == "cms" else "+CME ERROR"
        detail = str(err.code)
        if self.cmee == 2:
            detail = VERBOSE.get((err.kind, err.code), detail)
        self._final(f"{label}: {detail}")

    def _urc(self, line: str, pdu: str | None = None) -> None:
        data = b"\r\n" + line.encode("utf-8") + b"\r\n"
        if pdu is not None:
            data += pdu.encode("ascii") + b"\r\n"
        self.emit(data)

    def _maybe_garbage(self) -> None:
        if self.faults.garbage_rate and self._rng.random() < self.faults.garbage_rate:
            self.emit_garbage()

    def emit_garbage(self) -> None:
        """Bytes no AT line contains: invalid UTF-8, NULs, a stray high-bit byte."""
        self.emit(b"\r\n\xff\xfe\x00\x80\xc3(\x9f\r\n")

    def _noise_tick(self) -> None:
        if not (self.noise and self.powered and self.profile.noise_lines):
            return
        if not self._busy and self._prompt_length is None:
            self._urc(self._rng.choice(self.profile.noise_lines))
        self._after(self.profile.noise_interval, self._noise_tick)

    # ---------------------------------------------------------------------------- sending
    def _submit(self, length: int, pdu: str) -> None:
        try:
            if tpdu_octets(pdu) != length:
                raise SimCommandError("cms", 304)
            submit = decode_submit(pdu)
        except (CodecError, ValueError):
            self._error(SimCommandError("cms", 304))
            return
        except SimCommandError as err:
            self._error(err)
            return
        if not self.smsc and pdu.startswith("00"):
            error: SimCommandError | None = SimCommandError("cms", 330)
        elif not self.network:
            error = SimCommandError("cms", 331)
        elif submit.recipient in self.faults.fail_numbers:
            code = self.faults.fail_numbers[submit.recipient]
            error = SimCommandError("plain") if code < 0 else SimCommandError("cms", code)
        elif self.faults.cms_error_rate and self._rng.random() < self.faults.cms_error_rate:
            error = SimCommandError("cms", self.faults.cms_error_code)
        else:
            error = None
        self._busy = True
        latency = self.send_latency
        if self.faults.send_latencies:
            latency = self.faults.send_latencies.pop(0)
        elif self.send_latency_max is not None:
            latency = self._latency_rng.uniform(self.send_latency, self.send_latency_max)
        submitted = time.time()
        self._after(latency, lambda: self._submitted(submit, pdu, error, submitted))

    def _submitted(
        self, submit: Submit, pdu: str, error: SimCommandError | None, submitted: float
    ) -> None:
        self._busy = False
        if not self.powered:
            return
        if error is not None:
            self._error(error)
        else:
            self._mr = (self._mr + 1) % 256
            mr = self._mr
            sms = SentSms(
                recipient=submit.recipient,
                text=submit.text,
                encoding=submit.encoding,
                concat=submit.concat,
                reference=mr,
                status_report=submit.status_report_requested,
                pdu=pdu,
                at=time.time(),
                submitted_at=submitted,
            )
            self.sent.append(sms)
            if self.on_sent is not None:
                self.on_sent(sms)
            self._respond([f"+CMGS: {mr}"])
            if submit.status_report_requested:
                recipient = submit.recipient
                self.schedule(
                    self.profile.status_report_delay,
                    lambda: self.inject_status_report(mr, recipient, 0),
                )
        self._pump()

    # -------------------------------------------------------------------------- inbound
    def inject_sms(
        self,
        sender: str,
        text: str,
        encoding: Encoding | None = None,
        *,
        concat_bits: int = 8,
        timestamp: datetime | None = None,
    ) -> list[str]:
        """Deliver an SMS from the network (split into parts when long); return its PDUs."""
        enc = encoding or (Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2)
        self._inbound_ref = (self._inbound_ref + 1) % (256 if concat_bits == 8 else 65536)
        pdus = encode_deliver(
            sender,
            text,
            enc,
            timestamp=timestamp or datetime.now(UTC),
            concat_reference=self._inbound_ref,
            concat_bits=concat_bits,
        )
        for pdu in pdus:
            self.inject_pdu(pdu)
        return pdus

    def inject_pdu(self, pdu: str) -> None:
        """Deliver one raw PDU the way CNMI asks: stored and announced, pushed, or stored."""
        mode, mt = self.cnmi[0], self.cnmi[1]
        if self.powered and mode and mt in (2, 3):
            self._urc(f"+CMT: ,{tpdu_octets(pdu)}", pdu)
            return
        mem = self.profile.cmti_storage or self.cpms[2]
        index = self._store(mem, pdu)
        if index is not None and self.powered and mode and mt == 1 and not self.faults.lose_cmti:
            self._urc(f'+CMTI: "{mem}",{index}')

    def inject_status_report(self, reference: int, recipient: str, status: int) -> None:
        now = datetime.now(UTC)
        pdu = encode_status_report(reference, recipient, status, scts=now, discharge=now)
        ds = self.cnmi[3]
        if not self.powered or not self.cnmi[0]:
            return
        if ds == 1:
            self._urc(f"+CDS: {tpdu_octets(pdu)}", pdu)
        elif ds == 2:
            mem = self.cpms[2]
            index = self._store(mem, pdu)
            if index is not None:
                self._urc(f'+CDSI: "{mem}",{index}')

    def _store(self, mem: str, pdu: str) -> int | None:
        box = self.storage.setdefault(mem, {})
        for index in range(self.profile.capacity):
            if index not in box:
                box[index] = _Stored(0, pdu)
                return index
        return None  # storage full: the network keeps the message (not simulated further)

    def stored_count(self) -> int:
        return sum(len(box) for box in self.storage.values())

    def pull_sim(self) -> None:
        """The SIM comes out of its slot: announced as +CPIN, as most modems do."""
        self.pin_state = "NOT INSERTED"
        if self.powered:
            self._urc("+CPIN: NOT INSERTED")

    def set_network(self, on: bool) -> None:
        """Lose or regain the network; announced as +CREG/+CEREG when the host asked."""
        self.network = on
        if self.powered and self.reg_urc:
            for name in ("+CREG", "+CGREG", "+CEREG"):
                self._urc(f"{name}: {1 if on else 2}")

    def reboot(self) -> None:
        self.power_off()
        self.power_on()

    def start_prompt(self, length: int) -> None:
        """AT+CMGS accepted: show the prompt and take PDU hex until Ctrl-Z."""
        self._prompt_length = length
        self._pdu.clear()
        self.emit(b"\r\n> ")
        while self.faults.inbound_during_send:
            sender, text = self.faults.inbound_during_send.pop(0)
            self.inject_sms(sender, text)
