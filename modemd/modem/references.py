"""The concatenation reference of outgoing long SMS, kept across restarts.

A phone reassembles parts by (sender, reference); if a restart reused the reference of a
message still being delivered, two alerts could be merged into one garbled text.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class ReferenceCounter:
    """Hands out 1..255 (8-bit IEI) in turn; the last value is stored in a small file."""

    def __init__(self, path: Path | None, modulo: int = 256) -> None:
        self._path = path
        self._modulo = modulo
        self._lock = threading.Lock()
        self._value = self._load()

    def _load(self) -> int:
        if self._path is not None:
            try:
                return int(self._path.read_text().strip()) % self._modulo
            except FileNotFoundError:
                pass
            except (OSError, ValueError) as exc:
                log.warning("concatenation reference file %s unreadable (%s)", self._path, exc)
        # No memory of earlier runs: start anywhere rather than always at 1.
        return random.randrange(1, self._modulo)

    def next(self) -> int:
        with self._lock:
            self._value = self._value % (self._modulo - 1) + 1
            self._save(self._value)
            return self._value

    def _save(self, value: int) -> None:
        if self._path is None:
            return
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            tmp.write_text(f"{value}\n")
            os.replace(tmp, self._path)
        except OSError as exc:
            log.warning("cannot save concatenation reference to %s: %s", self._path, exc)
