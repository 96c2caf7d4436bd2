"""The spool: operators drop alert files in ``outgoing/``; each ends in ``done/`` or ``failed/``.

A file is always in exactly one place: still in ``outgoing/``, accepted (in the database and
in ``done/``), or in ``failed/`` beside a ``.error`` that says why. The database commit comes
before the move to ``done/``; if a crash falls between the two, the file's content hash finds
the alert at the next start and the move is finished instead of the alert being queued twice.

Files are noticed through inotify (the ``watchdog`` library) with a periodic rescan as a safety
net and as the fallback where inotify is not available. A file renamed in is taken at once; a
file written in place once its writer has closed it and its size has held still.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from modemd.config import AlertsConfig
from modemd.diskspace import BACKOFF, DiskSpace
from modemd.members.registry import Registry, Subscriber
from modemd.pipeline.alerts import (
    ALERT_SUFFIXES,
    AlertFileError,
    AlertRequest,
    is_alert_name,
    is_unfinished_name,
    parse_alert,
)
from modemd.pipeline.outbox import Accepted, Outbox

log = logging.getLogger(__name__)


class _StopRace(logging.Filter):
    """watchdog logs an ERROR when an inotify event arrives while its observer is stopping;
    nothing is lost then (we are shutting down, and rescans cover a restart)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_StopRace())

SUBDIRS = ("outgoing", "done", "failed", "incoming")
KINDS = ", ".join(ALERT_SUFFIXES[:-1]) + " or " + ALERT_SUFFIXES[-1]
SETTLE = 1.0  # seconds a file without writer news must hold still before it is taken
RESCAN = 2.0  # seconds between scans of outgoing/ where inotify is not available
# With inotify the scan is only a safety net (an event lost to a full queue): rare, so an idle
# daemon on a Pi does not wake for it every other second.
SAFETY_SCAN = 30.0


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.outgoing = root / "outgoing"
        self.done = root / "done"
        self.failed = root / "failed"
        self.incoming = root / "incoming"

    def ensure(self) -> None:
        for name in SUBDIRS:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def keep(self, done_name: str, data: bytes) -> Path:
        """A submitted file's copy in ``done/``, as the intake leaves the files it takes
        (written aside and renamed in: ``done/`` never holds half a file)."""
        self.ensure()
        target = vacant(self.done / done_name)
        tmp = self.done / f".{target.name}.tmp"
        try:
            tmp.write_bytes(data)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        Intake._move(tmp, target)
        return target

    def pending(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.outgoing))
        except FileNotFoundError:
            return []
        return sorted(
            Path(e.path) for e in entries if e.is_file() and not is_unfinished_name(e.name)
        )


@dataclass(frozen=True)
class Outcome:
    kind: str  # accepted | duplicate | rejected | finished (a crash-split move completed)
    name: str
    alert_id: str | None = None
    recipients: int = 0
    reason: str = ""


def recipients_for(registry: Registry, request: AlertRequest) -> list[Subscriber]:
    """The active members an alert targets; none is an error in the alert."""
    recipients = registry.targeted(request.target)
    if not recipients:
        if request.target.everyone:
            raise AlertFileError("there is no active member to send it to")
        raise AlertFileError(f"the target ({request.target.describe()}) matches no active member")
    return recipients


def accept_alert(
    outbox: Outbox,
    registry: Registry,
    request: AlertRequest,
    *,
    actor: str,
    client: str | None = None,
    source_name: str | None = None,
    source_sha256: str | None = None,
    now: float | None = None,
) -> Accepted:
    """The one way an alert is accepted, from a spool file or from an operation: its
    recipients found (none: AlertFileError), then stored with its deliveries, idempotent on
    its ``id``, the actor in the audit entry."""
    recipients = recipients_for(registry, request)
    return outbox.accept(
        request,
        recipients,
        source_name=source_name,
        source_sha256=source_sha256,
        now=now,
        actor=actor,
        client=client,
    )


class Intake:
    """Turns one file into an accepted alert or a rejection, never both, never neither."""

    def __init__(
        self,
        spool: Spool,
        outbox: Outbox,
        registry: Registry,
        config: AlertsConfig,
        on_accepted: Callable[[Outcome], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.spool = spool
        self.outbox = outbox
        self.registry = registry
        self.config = config
        self.on_accepted = on_accepted

    def take(self, path: Path) -> Outcome | None:
        """Process one file; None if it vanished meanwhile (taken by someone else)."""
        if not is_alert_name(path.name):
            if not path.exists():
                return None
            return self._reject(
                path,
                f"not an alert file: modemd takes {KINDS} files (an alert in YAML, or its "
                "message alone as plain text); this one was left aside unread",
            )
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._reject(path, f"cannot read the file: {exc.strerror or exc}")
        digest = hashlib.sha256(data).hexdigest()
        try:
            written = path.stat().st_mtime
        except FileNotFoundError:
            return None
        for row in self.outbox.accepted_from(digest):
            # Only the very file that was accepted (written before the alert was) can be a
            # move a crash interrupted; an identical copy dropped later is a new alert.
            if (
                row["done_name"]
                and not (self.spool.done / row["done_name"]).exists()
                and written <= row["created_at"] + 1
            ):
                # Accepted before a crash that came before the move: finish the move only.
                self._move(path, self.spool.done / row["done_name"])
                return Outcome("finished", path.name, row["id"])
        try:
            request = parse_alert(path.name, data, self.config)
            accepted = accept_alert(
                self.outbox,
                self.registry,
                request,
                actor="system",
                source_name=path.name,
                source_sha256=digest,
                now=self.clock(),
            )
        except AlertFileError as exc:
            return self._reject(path, str(exc))
        assert accepted.done_name is not None
        outcome = Outcome(
            "duplicate" if accepted.duplicate else "accepted",
            path.name,
            accepted.alert_id,
            accepted.recipients,
        )
        if not accepted.duplicate and self.on_accepted is not None:
            # Committed: the dispatcher may start while the file is moved and synced.
            self.on_accepted(outcome)
        done = self.spool.done / accepted.done_name
        # A new alert's name is its own (its id is new, and crash recovery looks for it); a
        # repeat of an id within the same second must not replace the first one's copy.
        self._move(path, vacant(done) if accepted.duplicate else done)
        if accepted.duplicate:
            log.warning(
                "%s: alert id %s was already received as %s; not sent again",
                path.name,
                request.key,
                accepted.alert_id,
            )
        else:
            log.info(
                "alert %s accepted from %s: %d recipients, %d part(s) each, %s",
                accepted.alert_id,
                path.name,
                accepted.recipients,
                request.composition.part_count,
                request.priority,
            )
        return outcome

    def _reject(self, path: Path, reason: str) -> Outcome:
        target = _free_name(self.spool.failed, path.name)
        error = target.with_name(target.name + ".error")
        tmp = error.with_name("." + error.name + ".tmp")
        try:
            tmp.write_text(f"{path.name}: {reason}\n", encoding="utf-8")
        except OSError:
            tmp.unlink(missing_ok=True)  # no half-written reason left behind (a full disk)
            raise
        os.replace(tmp, error)  # the reason first: a crash now leaves the file to retry
        self._move(path, target)
        log.warning("%s rejected: %s", path.name, reason)
        return Outcome("rejected", path.name, reason=reason)

    @staticmethod
    def _move(path: Path, target: Path) -> None:
        os.replace(path, target)
        with contextlib.suppress(OSError):
            fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(fd)  # the rename itself survives a power cut
            finally:
                os.close(fd)


def vacant(path: Path) -> Path:
    """``path``, or ``stem-1.yaml``, ``stem-2.yaml``... if taken: a file is never replaced."""
    n, target = 1, path
    while target.exists():
        target = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return target


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists() or target.with_name(target.name + ".error").exists():
        target = folder / f"{name}.{n}"
        n += 1
    return target


@dataclass
class _Seen:
    open_count: int = 0
    moved_in: bool = False
    closed: bool = False
    last_event: float = field(default_factory=time.monotonic)
    stat: tuple[int, int] | None = None
    stable_since: float = field(default_factory=time.monotonic)


class SpoolWatcher:
    """Notices complete files in ``outgoing/`` and hands them to the intake, in one thread."""

    def __init__(
        self,
        spool: Spool,
        take: Callable[[Path], object],
        polling: bool = False,
        disk: DiskSpace | None = None,
    ) -> None:
        self.spool = spool
        self._take = take
        self._polling = polling
        self.disk = disk or DiskSpace()
        self._held_until = 0.0  # a full disk: files wait, untried, until then or room_back()
        self._seen: dict[Path, _Seen] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._observer: BaseObserver | None = None
        self._thread = threading.Thread(target=self._loop, name="spool", daemon=True)
        self.inotify = False

    def start(self) -> None:
        self.spool.ensure()
        handler = _Handler(self)
        try:
            observer = PollingObserver(timeout=RESCAN) if self._polling else _inotify_observer()
            observer.schedule(handler, str(self.spool.outgoing), recursive=False)
            observer.start()
            self.inotify = not self._polling
        except (OSError, ImportError) as exc:
            log.warning(
                "inotify unavailable (%s); scanning %s every %g s", exc, self.spool.outgoing, RESCAN
            )
            observer = PollingObserver(timeout=RESCAN)
            observer.schedule(handler, str(self.spool.outgoing), recursive=False)
            observer.start()
        self._observer = observer
        self._thread.start()

    def room_back(self) -> None:
        """The disk has room again: take what waited, now."""
        self._held_until = 0.0
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent):
            # A rename, inside outgoing/ or from another folder (then without a source):
            # the writer is done with it, so it is complete at once.
            path = Path(os.fsdecode(event.dest_path))
            if path.parent != self.spool.outgoing:
                return
            with self._lock:
                self._seen.setdefault(path, _Seen()).moved_in = True
        else:
            path = Path(os.fsdecode(event.src_path))
            with self._lock:
                seen = self._seen.setdefault(path, _Seen())
                seen.last_event = time.monotonic()
                if isinstance(event, FileOpenedEvent):
                    seen.open_count += 1
                elif isinstance(event, FileClosedEvent | FileClosedNoWriteEvent):
                    seen.open_count = max(0, seen.open_count - 1)
                    seen.closed = seen.closed or isinstance(event, FileClosedEvent)
                elif isinstance(event, FileCreatedEvent | FileModifiedEvent):
                    seen.closed = False
        self._wake.set()

    def _loop(self) -> None:
        next_scan = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_scan:
                for path in self.spool.pending():
                    with self._lock:
                        self._seen.setdefault(path, _Seen(last_event=now - SETTLE))
                next_scan = now + (SAFETY_SCAN if self.inotify else RESCAN)
            ready = [] if now < self._held_until else self._ready(now)
            for n, path in enumerate(ready):
                try:
                    self._take(path)
                except Exception as exc:
                    # The file stays in outgoing/ and is tried again at the next scan.
                    if self.disk.report(exc, self.spool.root):
                        # Said once by the disk monitor; these files, complete, wait quietly
                        # until room is back.
                        self._held_until = time.monotonic() + BACKOFF
                        with self._lock:
                            for left in ready[n:]:
                                self._seen[left] = _Seen(moved_in=True)
                        break
                    log.exception("could not process %s; will retry", path.name)
            with self._lock:
                waiting = bool(self._seen) and now >= self._held_until
            self._wake.wait(0.1 if waiting else max(0.1, next_scan - time.monotonic()))
            self._wake.clear()

    def _ready(self, now: float) -> list[Path]:
        ready: list[Path] = []
        with self._lock:
            for path, seen in list(self._seen.items()):
                if is_unfinished_name(path.name):
                    del self._seen[path]
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    del self._seen[path]
                    continue
                stat = (st.st_size, st.st_mtime_ns)
                if stat != seen.stat:
                    seen.stat, seen.stable_since = stat, now
                if seen.moved_in:
                    complete = True
                elif seen.open_count > 0:
                    complete = False  # a writer still has it open
                elif seen.closed:
                    complete = now - seen.stable_since >= 0.05
                else:
                    complete = now - max(seen.stable_since, seen.last_event) >= SETTLE
                if complete:
                    del self._seen[path]
                    ready.append(path)
        return sorted(ready)


def _inotify_observer() -> BaseObserver:
    """inotify with its full events: a file renamed in from a folder we do not watch comes
    as a move (IN_MOVED_TO), not as a creation to be waited on like a file written in place."""
    from watchdog.observers.inotify import InotifyObserver  # Linux only

    return InotifyObserver(generate_full_events=True)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: SpoolWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.watcher.event(event)
