"""Runs a SimulatedModem behind a real pseudo-terminal, the way a USB modem shows up.

One thread owns the pty master, the modem's state and its timers, so the modem itself needs no
locks; other threads reach it through ``call``. ``unplug`` closes the master (the host's reads
fail as on a USB drop-out) and ``replug`` boots a new pty, maybe under another /dev/pts name,
and points the stable link at it, as a udev rule would.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from modemd.sim.modem import SentSms, SimulatedModem

T = TypeVar("T")


class PtySimulator:
    def __init__(self, modem: SimulatedModem, link: Path | None = None) -> None:
        self.modem = modem
        self.link = link
        self.path: str | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._out = bytearray()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._calls: list[tuple[Callable[[], object], list[object], threading.Event]] = []
        self._calls_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sim-modem", daemon=True)
        modem.emit = self._out.extend
        modem.schedule = self._schedule

    # ---------------------------------------------------------------------------- control
    def start(self) -> PtySimulator:
        self._open_pty()
        self._thread.start()
        self.call(self.modem.power_on)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> str:
        """What the host should open: the stable link when there is one, else the pty."""
        if self.link is not None:
            return str(self.link)
        if self.path is None:
            raise RuntimeError("simulated modem is unplugged")
        return self.path

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def unplug(self) -> None:
        """The USB cable is pulled: the port vanishes and the modem loses power."""

        def pull() -> None:
            self.modem.power_off()
            self._close_pty()

        self.call(pull)

    def replug(self) -> None:
        """The modem comes back on a fresh pty and boots."""

        def plug() -> None:
            if self._master is None:
                self._open_pty()
                self.modem.power_on()

        self.call(plug)

    def call(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """Run ``fn`` on the simulator thread and return its result."""
        if threading.current_thread() is self._thread or not self._thread.is_alive():
            return fn()
        box: list[object] = []
        done = threading.Event()
        with self._calls_lock:
            self._calls.append((fn, box, done))
        self._wake()
        if not done.wait(timeout):
            raise TimeoutError("simulated modem did not run the call")
        result = box[0]
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[return-value]

    # Conveniences for tests and `modemd sim`, each run on the simulator thread.
    def inject_sms(self, sender: str, text: str, **kwargs: object) -> list[str]:
        return self.call(lambda: self.modem.inject_sms(sender, text, **kwargs))  # type: ignore[arg-type]

    def sent(self) -> list[SentSms]:
        return self.call(lambda: list(self.modem.sent))

    # ------------------------------------------------------------------------------- loop
    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), fn))

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _loop(self) -> None:
        while not self._stop.is_set():
            timeout = 0.5
            if self._timers:
                timeout = max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))
            readers = [self._wake_r] + ([self._master] if self._master is not None else [])
            writers = [self._master] if self._master is not None and self._out else []
            try:
                readable, writable, _ = select.select(readers, writers, [], timeout)
            except (OSError, ValueError):
                continue  # the master was closed under select by an unplug
            if self._wake_r in readable:
                os.read(self._wake_r, 4096)
                self._run_calls()
            if self._master is not None and self._master in readable:
                self._read_host()
            if self._master is not None and self._master in writable:
                self._write_host()
            self._run_timers()

    def _run_calls(self) -> None:
        with self._calls_lock:
            calls, self._calls = self._calls, []
        for fn, box, done in calls:
            try:
                box.append(fn())
            except Exception as exc:  # handed back to the caller, raised there
                box.append(exc)
            done.set()

    def _run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            fn()

    def _read_host(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        self.modem.receive(data)

    def _write_host(self) -> None:
        assert self._master is not None
        chunk = bytes(self._out[:1]) if self.modem.faults.byte_at_a_time else bytes(self._out)
        try:
            written = os.write(self._master, chunk)
        except BlockingIOError:
            return
        except OSError:
            self._out.clear()
            return
        del self._out[:written]
        if self.modem.faults.byte_at_a_time:
            time.sleep(0.0003)  # let the host read this byte on its own

    # -------------------------------------------------------------------------------- pty
    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        self._out.clear()
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.path)
            os.replace(tmp, self.link)

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self.path = None
        self._out.clear()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
