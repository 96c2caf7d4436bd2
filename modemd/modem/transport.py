"""Bytes in, bytes out: the one interface the AT engine needs from a port.

Backends are chosen by URL scheme and imported lazily: a plain device path or any URL that
pyserial understands (``socket://`` for ser2net, ``rfc2217://``, ``loop://``) opens a serial
port; ``sim://[profile]`` starts the built-in simulated modem on a pseudo-terminal and opens
that, so the code under test is exactly the production serial path.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import termios
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import serial

from modemd.modem.errors import ConnectionLost, PortUnavailable, Stage


@dataclass(frozen=True)
class PortSettings:
    url: str
    baudrate: int = 115200
    rtscts: bool = False
    xonxoff: bool = False


class Transport(ABC):
    """A byte stream to a modem. ``read`` returns b"" on timeout (or when ``close`` cuts it
    short, from another thread); a vanished port raises ConnectionLost from either call."""

    name: str

    @abstractmethod
    def read(self, timeout: float) -> bytes: ...

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


class SerialTransport(Transport):
    """A pyserial port, opened with ``serial_for_url`` so every pyserial URL works."""

    def __init__(self, settings: PortSettings) -> None:
        self.name = settings.url
        try:
            self._port = serial.serial_for_url(
                settings.url,
                baudrate=settings.baudrate,
                rtscts=settings.rtscts,
                xonxoff=settings.xonxoff,
                timeout=0.2,
                write_timeout=10,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError, termios.error) as exc:
            # termios.error: a tty that vanished between open() and its configuration.
            raise PortUnavailable(
                f"cannot open modem port {settings.url}: {_reason(exc)}", stage=Stage.CONNECT
            ) from exc

    def read(self, timeout: float) -> bytes:
        try:
            if self._port.timeout != timeout:  # setting it reconfigures the tty
                self._port.timeout = timeout
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            return first + (self._port.read(waiting) if waiting else b"")
        except (serial.SerialException, OSError, TypeError, AttributeError, termios.error) as exc:
            # pyserial raises TypeError/AttributeError when the fd is closed under it.
            raise ConnectionLost(f"modem port {self.name} lost: {_reason(exc)}") from exc

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError, TypeError, AttributeError, termios.error) as exc:
            raise ConnectionLost(f"modem port {self.name} lost: {_reason(exc)}") from exc

    def close(self) -> None:
        # Wake a read blocked in another thread first (POSIX ports can), then close; on a
        # vanished port nothing is left to release.
        with contextlib.suppress(serial.SerialException, OSError, termios.error):
            cancel = getattr(self._port, "cancel_read", None)
            if cancel is not None:
                cancel()
            self._port.close()


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "No such file" in text or "[Errno 2]" in text:
        return "no such device (is the modem plugged in? check the port name in modem.port)"
    if "Permission denied" in text:
        return "permission denied (is this user in the 'dialout' group?)"
    if "Device or resource busy" in text or "Could not exclusively lock" in text:
        return "port busy (is ModemManager or another program using it?)"
    return text


def find_stable_link(folder: str, port: str) -> str | None:
    """The symlink in ``folder`` (/dev/serial/by-id) that resolves to ``port``, if any."""
    if "://" in port or not os.path.isdir(folder):
        return None
    target = os.path.realpath(port)
    if os.path.dirname(os.path.abspath(port)) == os.path.abspath(folder):
        return None  # the port is already a stable name
    for entry in sorted(os.listdir(folder)):
        link = os.path.join(folder, entry)
        if os.path.islink(link) and os.path.realpath(link) == target:
            return link
    return None


TransportFactory = Callable[[PortSettings], Transport]

# Scheme -> "module:factory"; imported only when used so the simulator costs nothing in production.
_BACKENDS: dict[str, str] = {
    "sim": "modemd.sim.backend:open_sim_transport",
}


def open_transport(settings: PortSettings) -> Transport:
    """Open the port named by ``settings.url`` with the backend its scheme selects."""
    scheme = settings.url.split("://", 1)[0] if "://" in settings.url else ""
    target = _BACKENDS.get(scheme)
    if target is None:
        return SerialTransport(settings)
    module_name, attr = target.split(":")
    factory: TransportFactory = getattr(importlib.import_module(module_name), attr)
    return factory(settings)
