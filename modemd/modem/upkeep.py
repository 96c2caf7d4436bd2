"""The periodic health check of one modem, at one AT command a check.

A hung modem sends nothing, so its silence can only be found by asking; what changes by
itself arrives by itself and is not polled: registration as ``+CREG``/``+CEREG`` URCs (the
operator's name is read again when it changes), new SMS as ``+CMTI``. Each check sends one
command, in turn:

- the signal (``AT+CSQ``), which also proves the modem answers;
- what the storage holds (``AT+CPMS?``), swept when it holds more than expected: a ``+CMTI``
  lost in line noise or a hand-over that failed (see ``Receiver.check_stored``);
- every ``SIM_EVERY``-th check, the SIM (``AT+CPIN?``) instead of the signal; at once when
  the modem announces a SIM change (``+CPIN: NOT READY``, ``NOT INSERTED``...).

At the default ``health.check_interval`` (30 s) that is 2 AT commands a minute when idle, a
stored SMS taken within two checks (a minute), and a hung modem found at the first check
after it hangs: within ``hang_found_within`` seconds (41 s by default).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum

from modemd.modem import info
from modemd.modem.at import RESYNC_ATTEMPTS, RESYNC_TIMEOUT, AtEngine
from modemd.modem.errors import CmeError, CmsError, CommandFailed
from modemd.modem.info import ModemStatus
from modemd.modem.receiver import Receiver

log = logging.getLogger(__name__)

SIM_EVERY = 20  # checks between two reads of the SIM state (10 min at 30 s)
REGISTRATION_QUERIES = ("AT+CEREG?", "AT+CREG?", "AT+CGREG?")


class Check(Enum):
    SIGNAL = "signal"
    STORAGE = "storage"
    SIM = "sim"


def hang_found_within(check_interval: float, command_timeout: float) -> float:
    """The longest a hung modem goes unnoticed: until the next check, its command's
    timeout, then the resynchronisation that finds nothing answers."""
    return check_interval + command_timeout + RESYNC_ATTEMPTS * RESYNC_TIMEOUT


class Rotation:
    """Which check comes next: signal and storage in turn, the SIM now and then."""

    def __init__(self, storage: bool = True) -> None:
        self._count = 0
        self._storage = storage  # False: nothing is received here (doctor)

    def next(self) -> Check:
        self._count += 1
        if self._storage and self._count % 2 == 0:
            return Check.STORAGE
        if self._count % SIM_EVERY == SIM_EVERY - 1:
            return Check.SIM
        return Check.SIGNAL


class HealthCheck:
    """Runs the checks on the modem's worker thread. A command left unanswered raises
    ``CommandTimeout``/``ModemUnresponsive`` to the caller, which resets the modem."""

    def __init__(
        self,
        engine: Callable[[], AtEngine],
        status: ModemStatus,
        receiver: Receiver | None,
        *,
        command_timeout: float,
        registration: Callable[[], int | None],
        on_sim_trouble: Callable[[str], None],
    ) -> None:
        self._engine = engine
        self.status = status
        self._receiver = receiver
        self._timeout = command_timeout
        self._registration = registration
        self._on_sim_trouble = on_sim_trouble
        self._rotation = Rotation(storage=receiver is not None)
        # False when the modem refused every registration URC: then it is polled.
        self.registration_urcs = True

    def run(self) -> Check:
        kind = self._rotation.next()
        if kind is Check.STORAGE and self._receiver is not None:
            self._receiver.check_stored()
        elif kind is Check.SIM:
            self.check_sim()
        else:
            self.status.signal = info.parse_csq(self._ask("AT+CSQ"))
            if not self.registration_urcs:
                self.status.registration = self._registration()
        return kind

    def read_operator(self) -> None:
        """After a registration change: the operator may be another one now."""
        self.status.operator = info.parse_operator(self._ask("AT+COPS?"))

    def check_sim(self) -> None:
        """Also run at once when the modem says the SIM changed (``+CPIN:`` URC)."""
        try:
            lines = self._engine().command("AT+CPIN?", self._timeout)
        except CmeError as exc:
            if exc.code in (10, 13):
                self._on_sim_trouble(f"SIM problem: {exc.meaning}")
            return
        if lines and "READY" not in lines[0]:
            self._on_sim_trouble(f"SIM asks for {lines[0].split(':', 1)[-1].strip()}")

    def _ask(self, command: str) -> list[str]:
        try:
            return self._engine().command(command, self._timeout)
        except (CommandFailed, CmsError, CmeError) as exc:
            log.debug("%s refused: %s", command, exc)
            return []
