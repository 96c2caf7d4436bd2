"""A SIM PIN the SIM rejected, remembered (as a digest) across restarts.

The same wrong PIN is never tried twice, since each try burns one of the SIM's three
attempts, while a corrected ``modem.pin`` is tried once.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)


class PinGuard:
    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: remembered for this process only

    def rejected(self, pin: str) -> bool:
        if self.path is None:
            return False
        try:
            return self.path.read_text().strip() == _digest(pin)
        except OSError:
            return False

    def remember(self, pin: str) -> None:
        if self.path is None:
            return
        try:
            self.path.write_text(_digest(pin) + "\n")
        except OSError as exc:
            log.warning("cannot record the rejected PIN in %s: %s", self.path, exc)

    def forget(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _digest(pin: str) -> str:
    # Only a digest is kept: the PIN itself is never written anywhere by modemd.
    return hashlib.sha256(f"modemd-pin:{pin}".encode()).hexdigest()
