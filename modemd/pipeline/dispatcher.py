"""The dispatcher: takes the next SMS from the outbox and gives it to its channel (a modem, a
file...), part by part, as fast as the channel and the SIM's windows allow.

Order: urgent before normal, then the oldest alert, then member order; a whole message (all its
parts) is the unit, so an urgent alert overtakes at the next message boundary. Transient errors
are retried with backoff within the alert's expiry; permanent ones fail that recipient only.
Each part is in the database as in flight before the channel writes it and as sent right
after (the channel calls the part journal around each part). On a
full disk nothing can be recorded, so sending holds until room is back (a part the network
took meanwhile is recorded first); the notice that says so goes from memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from modemd.channels.base import (
    Channel,
    FailedForGood,
    InDoubt,
    NeverLeft,
    Outcome,
    OutgoingSms,
    Paused,
    RetryLater,
    Sent,
    Withdrawn,
)
from modemd.diskspace import BACKOFF, DiskSpace
from modemd.pipeline.outbox import Job, Outbox
from modemd.pipeline.throttle import Throttle, Verdict
from modemd.sms.parts import Composition

log = logging.getLogger(__name__)

MIN_VALIDITY = timedelta(minutes=5)


class AlertLog:
    """One log line when an alert starts going out, one per tenth of its recipients, one at
    the end, as key=value pairs a log search can filter on."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._alerts: dict[str, list[float]] = {}  # id -> [total, done, last tenth, started]

    def starting(self, job: Job) -> None:
        """A first part goes to the channel: the alert's start is logged now, not once the
        network has answered (which would make a prompt pickup look slow)."""
        self._entry(job, counted=False)

    def _entry(self, job: Job, counted: bool) -> list[float] | None:
        """The alert's tally, started on its first event; ``counted``: this job is already
        among those the outbox counts as done."""
        if job.priority < 0:
            return None  # modemd's own replies and notices are not alerts
        entry = self._alerts.get(job.alert_id)
        if entry is None:
            total, done = self.outbox.counts(job.alert_id)
            entry = self._alerts[job.alert_id] = [total, done - counted, 0, time.monotonic()]
            log.info("alert=%s event=start recipients=%d parts=%d", job.alert_id, total, job.parts)
        return entry

    def delivered(self, job: Job) -> None:
        entry = self._entry(job, counted=True)
        if entry is None:
            return
        entry[1] += 1
        total, done = int(entry[0]), int(entry[1])
        tenth = 10 * done // max(total, 1)
        if done >= total:
            del self._alerts[job.alert_id]
            total, _ = self.outbox.counts(job.alert_id)
            log.info(
                "alert=%s event=end recipients=%d served=%d minutes=%.1f",
                job.alert_id,
                total,
                done,
                (time.monotonic() - entry[3]) / 60,
            )
        elif tenth > entry[2]:
            entry[2] = tenth
            log.info("alert=%s event=progress done=%d recipients=%d", job.alert_id, done, total)


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts``: 5, 15, 45, 135, 405, then every 10 min."""
    return float(min(600, 5 * 3 ** max(0, attempts - 1)))


@dataclass
class DispatchState:
    """What ``status`` shows about the dispatcher."""

    current: str | None = None  # "alert-id -> +336..."
    blocked: Verdict | None = None
    paused_until: float = 0.0
    sent_parts: int = 0
    failed_parts: int = 0
    part_seconds: float = 0.0  # moving average of one part's send
    errors: list[tuple[float, str]] = field(default_factory=list)

    def error(self, now: float, text: str) -> None:
        self.errors = [*self.errors[-9:], (now, text)]


@dataclass(frozen=True)
class _Unrecorded:
    """A part the network took whose record could not be written (the disk is full): it is
    recorded before anything else is sent, so it never goes twice."""

    job: Job
    seq: int
    message_id: str | None
    answered: float
    log_id: int


class _QueueJournal:
    """The part journal of one queued delivery: each part recorded in flight and counted
    before the channel writes it, recorded sent after (see ``PartJournal``)."""

    def __init__(self, dispatcher: Dispatcher, job: Job) -> None:
        self.dispatcher = dispatcher
        self.job = job
        self.log_id: int | None = None  # the send-log row of the part in flight, if any
        self.in_doubt = 0.0  # the latest the part in flight may reach the network
        self._started = 0.0

    def begin(self, seq: int, resume: str | None) -> bool:
        d, job = self.dispatcher, self.job
        if seq > job.parts_sent + 1 and not d._may_continue(job):
            return False
        now = d.clock()
        # Until the network answers, the part may reach the SMS centre as late as the
        # longest a send may take; it counts from there (durably, should we crash now).
        in_doubt = now + d.channel.send_deadline
        log_id = d.outbox.begin_part(job, seq, d.name, now, resume, counted_at=in_doubt)
        if log_id is None:
            return False  # unsubscribed, cancelled or expired since it was picked
        self.log_id, self.in_doubt = log_id, in_doubt
        d.throttle.record(in_doubt, job.phone)
        if seq == 1:
            d.progress.starting(job)
        self._started = time.monotonic()
        return True

    def sent(self, seq: int, message_id: str | None) -> None:
        d = self.dispatcher
        answered = d.clock()
        d.throttle.settle(self.in_doubt, answered, self.job.phone)
        elapsed = time.monotonic() - self._started
        avg = d.state.part_seconds
        d.state.part_seconds = elapsed if avg == 0 else 0.8 * avg + 0.2 * elapsed
        d.state.sent_parts += 1
        assert self.log_id is not None
        log_id, self.log_id = self.log_id, None
        d._record_sent(_Unrecorded(self.job, seq, message_id, answered, log_id))


class _MemoryJournal:
    """The journal of an SMS kept in memory (the disk is full): counted for the SIM's
    windows only."""

    def __init__(self, dispatcher: Dispatcher, phone: str) -> None:
        self.dispatcher = dispatcher
        self.phone = phone
        self.in_doubt: float | None = None

    def begin(self, seq: int, resume: str | None) -> bool:
        d = self.dispatcher
        self.in_doubt = d.clock() + d.channel.send_deadline
        d.throttle.record(self.in_doubt, self.phone)
        return True

    def sent(self, seq: int, message_id: str | None) -> None:
        d = self.dispatcher
        assert self.in_doubt is not None
        d.throttle.settle(self.in_doubt, d.clock(), self.phone)
        self.in_doubt = None
        d.state.sent_parts += 1


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        channel: Channel,
        throttle: Throttle,
        *,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
        accept: Callable[[Job], bool] | None = None,
    ) -> None:
        self.outbox = outbox
        self.channel = channel
        self.throttle = throttle
        self.name = name or channel.name
        self.clock = clock
        self.accept = accept  # the pool's say on which deliveries this channel may take
        self.state = DispatchState()
        # The window holding the queue back, said once: sending at its pace, one message
        # each time it reopens, is the same block until the queue is served.
        self._held_by: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.progress = AlertLog(outbox)
        # Told when a write fails for want of room (the daemon's monitor; quiet on its own).
        self.disk = DiskSpace()
        self._unrecorded: _Unrecorded | None = None
        self._direct: list[tuple[str, Composition]] = []
        self._direct_lock = threading.Lock()

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"dispatcher-{self.name}", daemon=True
        )
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 8.0) -> None:
        """Finish the part in flight, then stop."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def send_direct(self, phone: str, composition: Composition) -> None:
        """An SMS that cannot go through the durable queue (a notice that the disk is full):
        kept in memory only, sent before queued work, within the SIM's windows."""
        with self._direct_lock:
            self._direct.append((phone, composition))
        self.wake()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----------------------------------------------------------------------------- loop
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self._step()
            except Exception as exc:  # keep the queue alive; the state is in the database
                if self.disk.report(exc, self.outbox.db.path.parent):
                    # Said once by the disk monitor; woken as soon as room is back.
                    delay = BACKOFF
                else:
                    log.exception("dispatcher error")
                    self.state.error(self.clock(), f"internal error: {exc}")
                    delay = 1.0
            if delay > 0:
                self._wake.wait(delay)
                self._wake.clear()

    def _step(self) -> float:
        """Do one unit of work; return how long to wait before the next (0 = at once)."""
        now = self.clock()
        if now < self.state.paused_until:
            return min(1.0, self.state.paused_until - now)
        if not self.channel.ready:
            self.state.current = None
            self.channel.wait_ready(0.5)
            return 0.0
        if self.channel.status().offline:
            # No network: retries would only burn attempts. The channel tells us (its state
            # changes wake us) when it is back.
            self.state.current = None
            return 0.5
        if self._direct:
            return self._send_direct(now)
        if self.disk.watch and self.disk.holds(self.outbox.db.path):
            # Nothing can be recorded, a STOP perhaps not either: hold until room is back
            # (the daemon wakes us then, after the STOPs waiting on the SIM).
            self.state.current = None
            return BACKOFF
        if self._unrecorded is not None:
            # Raises again while the disk is full; once recorded, its claim is let go.
            self._record_sent(self._unrecorded, release=True)
        job = self.outbox.claim(self.name, now, self.accept)
        if job is None:
            self.state.current = None
            self.state.blocked = None
            self._held_by = None
            retry = self.outbox.next_retry_at()
            if retry is None or retry <= now:
                return 1.0  # nothing this channel may take now; wake() cuts the wait short
            return max(0.01, min(1.0, retry - now))
        try:
            return self._try(job, now)
        finally:
            if self._unrecorded is None or self._unrecorded.job.delivery_id != job.delivery_id:
                self.outbox.release(job)  # else kept until its sent part is recorded

    def _try(self, job: Job, now: float) -> float:
        if job.parts_sent and self.outbox.last_modem(job) not in (None, self.name):
            # Its first parts left from another SIM, now unavailable: start it over here.
            job = self.outbox.restart_message(job)
        verdict = self.throttle.check(now, job.phone, job.parts - job.parts_sent)
        if not verdict.allowed:
            if self._held_by != verdict.window:
                self._held_by = verdict.window
                log.info(
                    "SIM limit %s reached; sending resumes at %s",
                    verdict.window,
                    time.strftime("%H:%M:%S", time.localtime(verdict.reopens_at or now)),
                )
            self.state.blocked = verdict
            return max(0.01, min(1.0, (verdict.reopens_at or now) - now))
        self.state.blocked = None
        self._send(job)
        return 0.0

    def _send(self, job: Job) -> None:
        self.state.current = f"{job.alert_id} -> {job.phone}"
        remaining = timedelta(seconds=max(0.0, job.expires_at - self.clock()))
        sms = OutgoingSms(
            recipient=job.phone,
            text=job.text,
            encoding=job.encoding,
            parts=job.parts,
            validity=max(remaining, MIN_VALIDITY),
            first_part=job.parts_sent + 1,
            resume=job.resume,
        )
        journal = _QueueJournal(self, job)
        outcome = self.channel.send(sms, journal)
        if isinstance(outcome, Sent | Withdrawn):
            return  # each part recorded by the journal; a withdrawn message waits or is gone
        if journal.log_id is None and isinstance(outcome, FailedForGood):
            # Refused before any part was begun (an invalid number, a text it cannot carry).
            self.outbox.fail_delivery(job, outcome.reason, self.clock())
            log.warning(
                "alert %s: %s cannot be served: %s", job.alert_id, job.phone, outcome.reason
            )
            return
        if isinstance(outcome, InDoubt):
            self._in_doubt(job, journal, outcome)
            return
        if journal.log_id is not None:
            self.throttle.forget(journal.in_doubt, job.phone)  # it never left
        self._failed(job, outcome.seq, journal.log_id, outcome)

    def _may_continue(self, job: Job) -> bool:
        """Between two parts of one message: still wanted, still allowed, not stopping."""
        if self._stop.is_set() or not self.outbox.still_wanted(job.delivery_id):
            return False
        return self.throttle.check(self.clock(), job.phone, 1).allowed

    def _in_doubt(self, job: Job, journal: _QueueJournal, outcome: InDoubt) -> None:
        """The link died mid-exchange: the part may have left, up to now if the wait
        outlasted the deadline (a busy channel first). Counted, and sent again."""
        latest = max(journal.in_doubt, self.clock())
        self.throttle.settle(journal.in_doubt, latest, job.phone)
        self.outbox.part_unknown(
            job, outcome.seq, outcome.reason, log_id=journal.log_id, counted_at=latest
        )
        self.state.error(self.clock(), f"{job.phone}: {outcome.reason}")
        log.warning(
            "alert %s: part %d/%d to %s in doubt (%s); will send again",
            job.alert_id,
            outcome.seq,
            job.parts,
            job.phone,
            outcome.reason,
        )

    def _record_sent(self, sent: _Unrecorded, *, release: bool = False) -> None:
        """Record a part the network took. The message stays claimed while its next parts
        go (``_step`` lets it go at the end): another sender of the same channel must not
        take a half-sent message from under this one."""
        self._unrecorded = sent
        done = self.outbox.part_sent(
            sent.job, sent.seq, sent.message_id, sent.answered, log_id=sent.log_id
        )
        self._unrecorded = None
        if release:
            self.outbox.release(sent.job)
        if done:
            self.progress.delivered(sent.job)

    def _send_direct(self, now: float) -> float:
        """The first SMS kept in memory, part by part, counted like any other."""
        with self._direct_lock:
            phone, composition = self._direct[0]
        verdict = self.throttle.check(now, phone, composition.part_count)
        if not verdict.allowed:
            return max(0.01, min(1.0, (verdict.reopens_at or now) - now))
        sms = OutgoingSms(
            phone, composition.text, composition.encoding, composition.part_count, off_disk=True
        )
        journal = _MemoryJournal(self, phone)
        outcome = self.channel.send(sms, journal)
        if isinstance(outcome, Sent):
            return self._direct_done(phone, None)
        if journal.in_doubt is not None:
            if isinstance(outcome, InDoubt):
                self.throttle.settle(journal.in_doubt, max(journal.in_doubt, self.clock()), phone)
            else:
                self.throttle.forget(journal.in_doubt, phone)
        reason = "withdrawn" if isinstance(outcome, Withdrawn) else outcome.reason
        return self._direct_done(phone, reason)

    def _direct_done(self, phone: str, error: str | None) -> float:
        with self._direct_lock:
            self._direct.pop(0)
        if error is None:
            log.info("SMS to %s sent from memory (the queue cannot be written)", phone)
            return 0.0
        log.warning("SMS to %s, kept in memory, not sent: %s", phone, error)
        return 1.0

    def _failed(
        self,
        job: Job,
        seq: int,
        log_id: int | None,
        outcome: NeverLeft | RetryLater | FailedForGood | Paused,
    ) -> None:
        now = self.clock()
        self.state.failed_parts += 1
        self.state.error(now, f"{job.phone}: {outcome.reason}")
        retry_at: float | None = None
        if isinstance(outcome, Paused):
            # No network: nothing is tried on this channel for a while.
            self.state.paused_until = now + outcome.seconds
        if isinstance(outcome, RetryLater):
            retry_at = now + outcome.after  # the far end's pace: no attempt counted
        elif isinstance(outcome, NeverLeft | Paused):
            retry_at = now + backoff(job.attempts + 1)
        if retry_at is not None and retry_at < job.expires_at:
            self.outbox.part_failed(
                job,
                seq,
                log_id,
                outcome.reason,
                retry_at,
                now,
                attempt=not isinstance(outcome, RetryLater),
            )
            log.info(
                "alert %s: %s failed (%s), retry in %.0f s",
                job.alert_id,
                job.phone,
                outcome.reason,
                retry_at - now,
            )
            return
        self.outbox.part_failed(job, seq, log_id, outcome.reason, None, now)
        log.warning("alert %s: %s not served: %s", job.alert_id, job.phone, outcome.reason)
        self.progress.delivered(job)


__all__ = ["AlertLog", "DispatchState", "Dispatcher", "Outcome", "backoff"]
