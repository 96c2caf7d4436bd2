"""SIM plan limits as sliding windows: never exceeded, whatever the timing.

Windows slide (any 60 s, any hour, any 24 h, any 31 days), which is stricter than the calendar
windows operators count in, so honouring them honours the plan. The SMS centre counts a part
when it reaches it, somewhere between the start of ``AT+CMGS`` and the network's answer, so
each part is counted at the latest moment it can have arrived: until the answer comes, its
start plus the longest a send may take; then the answer itself. A part may start only once
every part that would push the window over its cap is older than the window even from the
network's side. The history is rebuilt from the send log at start, so a restart never opens a
window early.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

from modemd.config import LimitsConfig

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
MONTH = 31 * DAY  # any calendar month fits in 31 sliding days
HISTORY = MONTH


@dataclass(frozen=True)
class Window:
    name: str  # the config key
    seconds: float
    cap: int
    distinct: bool  # counts distinct recipients instead of parts


@dataclass(frozen=True)
class Verdict:
    """May these parts go now? If not, which window blocks and when it reopens."""

    allowed: bool
    window: str | None = None
    reopens_at: float | None = None


@dataclass(frozen=True)
class Usage:
    name: str
    used: int
    cap: int


def windows_from(limits: LimitsConfig) -> list[Window]:
    spec = [
        ("per_minute", MINUTE, limits.per_minute, False),
        ("per_hour", HOUR, limits.per_hour, False),
        ("per_day", DAY, limits.per_day, False),
        ("distinct_recipients_per_day", DAY, limits.distinct_recipients_per_day, True),
        ("distinct_recipients_per_month", MONTH, limits.distinct_recipients_per_month, True),
    ]
    return [Window(name, seconds, cap, distinct) for name, seconds, cap, distinct in spec if cap]


class _Counter:
    """One window's entries, evicted as time passes: parts, or distinct recipients.

    Entries are kept in time order; a part's time can move (from its in-doubt bound to its
    answer), so they are inserted in place, searching from the newest end where they land."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.entries: deque[tuple[float, str]] = deque()
        self.per_recipient: Counter[str] = Counter()
        self.last: dict[str, float] = {}

    def add(self, at: float, recipient: str) -> None:
        entries = self.entries
        i = len(entries)
        while i and entries[i - 1][0] > at:
            i -= 1
        entries.insert(i, (at, recipient))
        self.per_recipient[recipient] += 1
        self.last[recipient] = max(at, self.last.get(recipient, at))

    def remove(self, at: float, recipient: str) -> bool:
        for i in range(len(self.entries) - 1, -1, -1):
            if self.entries[i] == (at, recipient):
                del self.entries[i]
                self._drop(recipient)
                if recipient in self.last and self.last[recipient] == at:
                    self.last[recipient] = self._newest(recipient)
                return True
        return False

    def _newest(self, recipient: str) -> float:
        for at, who in reversed(self.entries):
            if who == recipient:
                return at
        raise AssertionError("a counted recipient without an entry")

    def evict(self, now: float) -> None:
        # Times only move forward here; a clock stepping back just keeps entries a little
        # longer, which errs on the safe side.
        # Compared as `at + seconds`, the very sum reopens_at() returns, so a caller that
        # waits until the announced time always finds the window open (no float drift).
        seconds = self.window.seconds
        while self.entries and self.entries[0][0] + seconds <= now:
            _, recipient = self.entries.popleft()
            self._drop(recipient)

    def _drop(self, recipient: str) -> None:
        self.per_recipient[recipient] -= 1
        if self.per_recipient[recipient] <= 0:
            del self.per_recipient[recipient]
            self.last.pop(recipient, None)

    @property
    def used(self) -> int:
        return len(self.per_recipient) if self.window.distinct else len(self.entries)

    def reopens_at(self, recipient: str, parts: int) -> float | None:
        """None if there is room now, else when there will be."""
        cap = self.window.cap
        if self.window.distinct:
            if recipient in self.per_recipient or len(self.per_recipient) < cap:
                return None
            # Room for one more once enough recipients have aged out entirely.
            ages = sorted(self.last.values())
            return ages[len(ages) - cap] + self.window.seconds
        need = parts if parts <= cap else 1
        excess = len(self.entries) + need - cap
        if excess <= 0:
            return None
        return self.entries[excess - 1][0] + self.window.seconds


class Throttle:
    """Sliding-window counters for one modem's SIM. Thread-safe: in a pool, the other
    modems' dispatchers ask it whether a recipient already counts here."""

    def __init__(self, limits: LimitsConfig, history: Iterable[tuple[float, str]] = ()) -> None:
        self._lock = threading.RLock()
        # The longest window's entries, kept so new caps (SIGHUP) apply to the same history.
        self._keep = _Counter(Window("history", HISTORY, 0, False))
        for at, recipient in sorted(history):
            self._keep.add(at, recipient)
        self.reconfigure(limits)

    def reconfigure(self, limits: LimitsConfig) -> None:
        """New caps over the same history."""
        with self._lock:
            self.windows = windows_from(limits)
            self._counters = [_Counter(w) for w in self.windows]
            for at, recipient in self._keep.entries:
                for counter in self._counters:
                    counter.add(at, recipient)

    def record(self, at: float, recipient: str) -> None:
        """One part handed to the modem, counted at ``at``: the latest moment it may reach
        the network (its start plus the longest a send may take, until it is answered)."""
        with self._lock:
            for counter in self._counters:
                counter.add(at, recipient)
            self._keep.add(at, recipient)

    def settle(self, recorded_at: float, answered_at: float, recipient: str) -> None:
        """The network answered the part recorded at ``recorded_at``: it arrived by
        ``answered_at`` at the latest, so it counts from then on."""
        with self._lock:
            for counter in [*self._counters, self._keep]:
                if counter.remove(recorded_at, recipient):
                    counter.add(answered_at, recipient)

    def forget(self, at: float, recipient: str) -> None:
        """A part the modem refused outright (never reached the network) no longer counts."""
        with self._lock:
            for counter in self._counters:
                counter.remove(at, recipient)
            self._keep.remove(at, recipient)

    def check(self, now: float, recipient: str, parts: int = 1) -> Verdict:
        """Whether ``parts`` more parts to ``recipient`` fit every window right now.

        A message's parts are asked for together so they go out back to back; a window whose
        cap is smaller than one message is asked for a single part (it can never fit whole).
        """
        with self._lock:
            worst: Verdict | None = None
            for counter in self._counters:
                counter.evict(now)
                reopen = counter.reopens_at(recipient, parts)
                if reopen is not None and (worst is None or reopen > (worst.reopens_at or 0.0)):
                    worst = Verdict(False, counter.window.name, reopen)
            return worst or Verdict(True)

    def knows(self, recipient: str) -> bool:
        """Whether the recipient already counts in a distinct-recipient window of this SIM
        (sending to them again costs no new slot there)."""
        with self._lock:
            return any(
                recipient in counter.per_recipient
                for counter in self._counters
                if counter.window.distinct
            )

    def usage(self, now: float) -> list[Usage]:
        with self._lock:
            self._keep.evict(now)
            result = []
            for counter in self._counters:
                counter.evict(now)
                result.append(Usage(counter.window.name, counter.used, counter.window.cap))
            return result

    def estimate(self, now: float, deliveries: int, parts: int, part_seconds: float) -> float:
        """Seconds to send ``deliveries`` messages of ``parts`` parts to new recipients at
        ``part_seconds`` a part under these windows: a dry run on a copy."""
        with self._lock:
            probe = Throttle(LimitsConfig())
            probe.windows = self.windows
            probe._counters = [_Counter(c.window) for c in self._counters]
            for source, target in zip(self._counters, probe._counters, strict=True):
                for at, recipient in source.entries:
                    target.add(at, recipient)
            clock = now
            for n in range(deliveries):
                recipient = f"\x00estimate-{n}"
                verdict = probe.check(clock, recipient, parts)
                while not verdict.allowed:
                    clock = max(clock, verdict.reopens_at or clock)
                    verdict = probe.check(clock, recipient, parts)
                for _ in range(parts):
                    clock += part_seconds
                    probe.record(clock, recipient)  # counted at its answer
            return clock - now


def pool_estimate(
    sims: list[tuple[Throttle, float]], now: float, deliveries: int, parts: int
) -> float:
    """Seconds for several SIMs to send ``deliveries`` messages of ``parts`` parts, each SIM
    taking a share in proportion to its speed (``part_seconds``), within its own windows."""
    if not sims or deliveries <= 0:
        return 0.0
    speeds = [1.0 / max(seconds, 0.01) for _, seconds in sims]
    total = sum(speeds)
    return max(
        throttle.estimate(now, round(deliveries * speed / total), parts, seconds)
        for (throttle, seconds), speed in zip(sims, speeds, strict=True)
    )
