"""Telling people: problems that need a person are said once, and once when they are over.

A condition (the modem gone, no network, a SIM window exhausted with work waiting) is reported
when it has lasted ``health.notify_after``, by SMS to ``inbound.operator_numbers``, in the log
and in ``status``; SIM trouble, a full disk and expired alerts are reported at once. SMS notices
go through the durable queue, so one raised while the modem is gone leaves when it is back;
when the queue itself cannot be written (the disk is full), they go straight to the modem
from memory instead (a crash would lose them, and the next start raises them again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from modemd.diskspace import is_disk_full
from modemd.phone import normalize
from modemd.pipeline.outbox import Outbox
from modemd.sms.parts import Composition, compose
from modemd.store import audit
from modemd.store.db import Database

log = logging.getLogger(__name__)

PREFIX = "modemd: "


@dataclass
class Problem:
    key: str
    text: str
    since: float
    notified: bool = False


class Notices:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        operator_numbers: list[str],
        notify_after: float,
        *,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
        direct: Callable[[str, Composition], None] | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.operator_numbers = [normalize(n) for n in operator_numbers]
        self.notify_after = notify_after
        self.clock = clock
        self.on_queued = on_queued
        self.direct = direct  # sends from memory, when the queue cannot be written
        self.open: dict[str, Problem] = {}
        self._lock = threading.RLock()  # conditions come from more than one periodic job

    def condition(self, key: str, active: bool, text: str, *, immediate: bool = False) -> None:
        """Called on every check with whether the condition holds now."""
        with self._lock:
            self._condition(key, active, text, immediate)

    def _condition(self, key: str, active: bool, text: str, immediate: bool) -> None:
        now = self.clock()
        problem = self.open.get(key)
        if active:
            if problem is None:
                problem = self.open[key] = Problem(key, text, now)
            problem.text = text
            if not problem.notified and (immediate or now - problem.since >= self.notify_after):
                problem.notified = True
                log.warning("needs a person: %s", text)
                self._trail("problem_opened", key, text, now)
                self.send(text)
        elif problem is not None:
            del self.open[key]
            if problem.notified:
                since = datetime.fromtimestamp(problem.since).strftime("%d/%m %H:%M")
                over = f"résolu: {problem.text} (depuis le {since})"
                log.warning("over: %s", problem.text)
                self._trail("problem_closed", key, problem.text, now)
                self.send(over)

    def _trail(self, event: str, key: str, text: str, now: float) -> None:
        """In the audit trail too (what webhooks are told from); a full disk loses this
        line, not the notice."""
        try:
            with self.db.transaction() as conn:
                audit.record(conn, now, event, detail={"problem": key, "text": text})
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            log.warning("%s %s not in the audit trail: the disk is full", event, key)

    def event(self, text: str) -> None:
        """Something that happened once (an alert expired with members unserved)."""
        log.warning("needs a person: %s", text)
        self.send(text)

    def send(self, text: str) -> None:
        if not self.operator_numbers:
            return  # the log and `status` still say it
        composition = compose(PREFIX + text)
        now = self.clock()
        try:
            with self.db.transaction() as conn:
                for number in self.operator_numbers:
                    self.outbox.queue_message(conn, number, composition, "notice", now)
        except Exception as exc:
            if not is_disk_full(exc) or self.direct is None:
                raise
            for number in self.operator_numbers:
                self.direct(number, composition)
            return
        if self.on_queued is not None:
            self.on_queued()

    def snapshot(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {"key": p.key, "text": p.text, "since": p.since, "notified": p.notified}
                for p in self.open.values()
            ]
