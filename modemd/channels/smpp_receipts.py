"""Delivery receipts on an SMPP link matched to the ids the SMS centre gave its submits.

Two quirks of real SMS centres are handled here. An id may come back written another way:
in hex in the ``submit_sm_resp`` and in decimal in the receipt (the usual case), the other
way round, or without its leading zeros. And a receipt may beat the answer to its own submit
(the SMS centre writes both at once, and smpp34's server does so): a receipt whose id is not
known yet waits ``EARLY_WAIT`` for it before it is read as the same number written another
way, so that "12" is never taken for 0x12 when it is the early receipt of "00000012".
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

EARLY_WAIT = 2.0  # seconds a receipt for an unknown id waits for that id's answer
KNOWN_IDS = 200_000  # message ids remembered (a day of a busy link)

# (message id as recorded, sender, delivered | failed | pending, when it was accepted)
Emit = Callable[[str, str, str, float], None]


class ReceiptMatcher:
    def __init__(self, emit: Emit, *, counting: bool = True) -> None:
        self.emit = emit
        self.counting = counting  # receipts asked for: accepted ids are awaited
        self._sent: OrderedDict[str, float] = OrderedDict()  # id -> when accepted
        # The same ids read as numbers, in hex and in decimal: number -> id.
        self._numbers: dict[int, dict[int, str]] = {16: {}, 10: {}}
        self._early: dict[str, tuple[str, str, float]] = {}  # id -> (sender, state, since)
        self._lock = threading.Lock()
        self.counts = {"delivered": 0, "failed": 0, "pending": 0}

    def accepted(self, message_id: str) -> None:
        """The SMS centre took a submit under this id."""
        with self._lock:
            self._sent[message_id] = time.time()
            for base, numbers in self._numbers.items():
                with contextlib.suppress(ValueError):
                    numbers[int(message_id, base)] = message_id
            while len(self._sent) > KNOWN_IDS:
                old, _ = self._sent.popitem(last=False)
                for base, numbers in self._numbers.items():
                    with contextlib.suppress(ValueError):
                        numbers.pop(int(old, base), None)
            if self.counting:
                self.counts["pending"] += 1
            early = self._early.pop(message_id, None)
        if early is not None:
            self._emit(message_id, early[0], early[1], self._sent[message_id])

    def receipt(self, message_id: str, sender: str, state: str) -> None:
        with self._lock:
            at = self._sent.get(message_id)
            if at is None:
                self._early[message_id] = (sender, state, time.monotonic())
        if at is not None:
            self._emit(message_id, sender, state, at)
        self.tick()

    def tick(self) -> None:
        """Receipts that waited long enough for their id: matched another way, or passed on
        as they are (an id sent before a restart: the send log still knows it)."""
        now = time.monotonic()
        with self._lock:
            due = [(k, v) for k, v in self._early.items() if now - v[2] >= EARLY_WAIT]
            for key, _ in due:
                del self._early[key]
        for message_id, (sender, state, _) in due:
            known, at = self._converted(message_id) or (message_id, time.time())
            self._emit(known, sender, state, at)

    def _converted(self, message_id: str) -> tuple[str, float] | None:
        with self._lock:
            for ours, theirs in ((16, 10), (10, 16)):
                try:
                    known = self._numbers[ours].get(int(message_id, theirs))
                except ValueError:
                    continue
                if known is not None:
                    return known, self._sent[known]
        return None

    def _emit(self, message_id: str, sender: str, state: str, at: float) -> None:
        with self._lock:
            self.counts[state] += 1
            if state != "pending" and self.counting:
                self.counts["pending"] = max(0, self.counts["pending"] - 1)
        self.emit(message_id, sender, state, at)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)
