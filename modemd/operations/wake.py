"""A cross-process wake-up: the daemon binds a UNIX datagram socket in its state folder, and
an operation that queued work sends it one datagram, so sending starts at once instead of at
the dispatcher's next poll. Nothing listening (no daemon): the work waits in the database."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

WAKE_NAME = "wake.sock"


def wake_daemon(state_dir: Path) -> bool:
    """One datagram to the running daemon; False if none listens."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(b"wake", str(state_dir / WAKE_NAME))
        except (FileNotFoundError, ConnectionRefusedError, BlockingIOError, OSError):
            return False
    return True


class WakeListener:
    """Calls ``on_wake`` in its own thread for each datagram received."""

    def __init__(self, state_dir: Path, on_wake: Callable[[], None]) -> None:
        self.path = state_dir / WAKE_NAME
        self._on_wake = on_wake
        self.received = 0  # wake-ups taken: what a test or a status line can show
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._loop, name="wake", daemon=True)

    def start(self) -> None:
        # Only one daemon holds the state lock, so a socket left by a killed one is stale.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(str(self.path))
            os.chmod(self.path, 0o660)  # the CLI runs as an operator of the same group
        except OSError as exc:
            sock.close()
            log.warning(
                "no wake-up socket %s (%s): submitted alerts wait for a poll", self.path, exc
            )
            return
        self._sock = sock
        self._thread.start()

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        # Wake the blocked recv so the thread sees it must end, then take the name away.
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"", str(self.path))
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self.path.unlink()
        sock.close()

    def _loop(self) -> None:
        while True:
            sock = self._sock
            if sock is None:
                return
            try:
                sock.recv(64)
            except OSError:
                return
            if self._sock is None:
                return
            self.received += 1
            try:
                self._on_wake()
            except Exception:
                log.exception("wake-up handler failed")
