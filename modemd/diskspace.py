"""A full disk: said once, waited out quietly, and what waited is taken as soon as room is back.

On a Raspberry Pi the SD card is shared with the system's logs; when it fills, every write of
modemd fails (SQLite's ``database or disk is full``, ``ENOSPC`` for files). Nothing is lost
then (a dropped file stays in ``outgoing/``, an inbound SMS on the SIM, an unsent part in the
queue), but retrying every second would fill the journal on the same card faster. So each
component tells this monitor when a write failed for want of room and backs off; the monitor
says it once (the daemon turns that into a "needs a person" notice), watches the free space
of the filesystems that filled, and when room is back runs the daemon's resume hook (STOPs
waiting on the SIM first, then the spool and the queue) and says that once too.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Room counts as back once this much more is free than when the write failed: a disk freed by
# a few kilobytes would fill again at the next write and flap between "full" and "resolved".
RESUME_MARGIN = 1024 * 1024
LOW_WATER = 64 * 1024  # less free than this on a watched folder counts as full, write or not
BACKOFF = 30.0  # seconds a component that hit a full disk waits before trying again on its own


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a write refused for want of room."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if isinstance(exc, sqlite3.Error) and (
            getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        ):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on ``path``'s filesystem."""
    st = os.statvfs(_existing(path))
    return st.f_bavail * st.f_frsize


def describe(size: int) -> str:
    """A size as operators read it, in French units (o, ko, Mo, Go)."""
    value = float(size)
    for unit in ("o", "ko", "Mo"):
        if value < 1024:
            return f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.1f} Go"


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


@dataclass
class _Full:
    path: Path  # where a write failed
    free_then: int
    announced: bool = False


class DiskSpace:
    """Which filesystems are full, as reported by the writes that failed.

    ``report`` is called from any thread; ``check`` from one periodic job (the daemon's tick):
    it announces a new full disk through ``on_full`` and, once room is back on every disk that
    filled, runs ``on_room`` while the disks still count as full (what must come first), then
    clears them and runs ``on_over`` (where the rest resumes)."""

    def __init__(
        self,
        watch: list[Path] | None = None,
        *,
        on_full: Callable[[str], None] | None = None,
        on_room: Callable[[], None] | None = None,
        on_over: Callable[[str], None] | None = None,
    ) -> None:
        self.watch = watch or []  # folders whose free space is looked at on each check
        self.on_full = on_full
        self.on_room = on_room
        self.on_over = on_over
        self._lock = threading.Lock()
        self._full: dict[int, _Full] = {}  # by st_dev of the filesystem

    @property
    def full(self) -> bool:
        with self._lock:
            return bool(self._full)

    def holds(self, path: Path) -> bool:
        """Whether ``path`` lies on a filesystem known to be full (or, for a watched folder,
        found nearly full now: what asks before writing need not fail first)."""
        try:
            dev = os.stat(_existing(path)).st_dev
        except OSError:
            return False
        with self._lock:
            if dev in self._full:
                return True
        if any(_same_device(path, w) for w in self.watch) and _free_or_zero(path) < LOW_WATER:
            self._mark(path)
            return True
        return False

    def report(self, exc: BaseException, where: Path) -> bool:
        """A write failed; True if for want of room (recorded here: the caller backs off
        without logging), False if it is another error the caller must handle itself.
        ``where`` is the folder the caller was writing to, unless the error names a file."""
        if not is_disk_full(exc):
            return False
        filename = getattr(exc, "filename", None)
        self._mark(Path(os.fsdecode(filename)).parent if filename else where)
        return True

    def _mark(self, path: Path) -> None:
        if path.is_file():
            path = path.parent  # the folder is what the administrator looks at
        try:
            dev = os.stat(_existing(path)).st_dev
            free = free_bytes(path)
        except OSError:
            dev, free = -1, 0
        with self._lock:
            if dev not in self._full:
                self._full[dev] = _Full(path, free)

    def text(self, *, resumed: bool = False) -> str:
        """What the operators are told, in French like the other notices: where, and how
        much is free (when it filled, or now that it is over)."""
        with self._lock:
            entries = list(self._full.values())
        where = ", ".join(
            f"{e.path} ({'de nouveau ' if resumed else ''}"
            f"{describe(_free_or_zero(e.path))} libres)"
            for e in entries
        )
        if resumed:
            return f"disque plein sur {where}"
        return f"disque plein sur {where}: alertes et SMS reçus en attente, rien de perdu"

    def check(self) -> None:
        """Announce a disk newly full; resume once every full one has room again."""
        for path in self.watch:
            self.holds(path)  # marks a watched folder found nearly full
        with self._lock:
            entries = list(self._full.items())
        if not entries:
            return
        fresh = [e for _, e in entries if not e.announced]
        if fresh:
            text = self.text()
            for entry in fresh:
                entry.announced = True
            log.debug("disk full: %s", text)
            if self.on_full is not None:
                self.on_full(text)
            return
        if not _room(entries):
            return
        text = self.text(resumed=True)
        if self.on_room is not None:
            self.on_room()  # still counted as full: what must come first (STOPs) goes first
            if not _room(entries):
                return  # taken again meanwhile
        with self._lock:
            for dev, _ in entries:
                self._full.pop(dev, None)
        if self.on_over is not None:
            self.on_over(text)


def _same_device(a: Path, b: Path) -> bool:
    try:
        return os.stat(_existing(a)).st_dev == os.stat(_existing(b)).st_dev
    except OSError:
        return False


def _room(entries: list[tuple[int, _Full]]) -> bool:
    return all(_free_or_zero(e.path) >= e.free_then + RESUME_MARGIN for _, e in entries)


def _free_or_zero(path: Path) -> int:
    try:
        return free_bytes(path)
    except OSError:
        return 0
