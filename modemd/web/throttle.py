"""Failed logins per client address, in memory: an address that keeps guessing (at any
number of logins) is told to wait, on top of the per-account lock kept in the database."""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW = 15 * 60.0
MAX_PER_ADDRESS = 20


class AddressThrottle:
    def __init__(self, limit: int = MAX_PER_ADDRESS, window: float = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        found = self._failures.setdefault(address, deque())
        while found and found[0] < now - self.window:
            found.popleft()
        return found

    def note_failure(self, address: str | None) -> None:
        if address is not None:
            with self._lock:
                now = time.monotonic()
                self._recent(address, now).append(now)

    def blocked(self, address: str | None) -> bool:
        if address is None:
            return False
        with self._lock:
            return len(self._recent(address, time.monotonic())) >= self.limit
