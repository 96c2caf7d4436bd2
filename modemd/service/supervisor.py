"""The daemon's periodic work: status, conditions that need a person, systemd, metrics.

Everything here runs from APScheduler jobs; the main thread only pings systemd's watchdog,
and only while these jobs keep running and the dispatcher thread is alive, so a wedged
daemon is restarted by systemd. The tick comes every second while there is something to
follow (work queued, a modem not up or without network, a problem open) and every
``IDLE_TICK`` seconds otherwise: a Raspberry Pi idles for months.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from modemd.config import Config, parse_duration
from modemd.diskspace import DiskSpace
from modemd.members.registry import Registry
from modemd.pipeline.pool import Pool
from modemd.service import sdnotify
from modemd.service.metrics import Metrics
from modemd.service.notices import Notices

log = logging.getLogger(__name__)

READY_GRACE = 60.0  # without a modem, tell systemd we are up anyway after this (and say why)
TEXTFILE_EVERY = 15.0
BUSY_TICK = 1.0  # seconds between ticks while there is something to follow
IDLE_TICK = 5.0  # and when idle; status.json is stale after 15 s (modemd.operations.live)
ALIVE_WITHIN = 3 * IDLE_TICK  # the watchdog is fed while a tick ran this recently


def quiet_scheduler_log() -> None:
    """APScheduler logs two INFO lines at each run of each job ("Running job ...", "...
    executed successfully"): 170,000 journal lines a day at one tick a second, and none an
    event. Its warnings (a run missed) and errors (a job that raised) still show; at DEBUG,
    everything does."""
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


class Supervisor:
    """Given what it watches, not the daemon: the pool of channels, the notices to the duty
    officers, the metrics, the registry (for the self-test) and how to read the queue.
    ``duties`` run first at each tick, in order (expiry, retried reports, the status file)."""

    def __init__(
        self,
        config: Config,
        pool: Pool,
        notices: Notices,
        metrics: Metrics,
        registry: Registry,
        queue_snapshot: Callable[[], dict[str, Any]],
        duties: list[Callable[[], None]],
        clock: Callable[[], float] = time.time,
        disk: DiskSpace | None = None,
    ) -> None:
        self.disk = disk
        self.config = config
        self.pool = pool
        self.notices = notices
        self.metrics = metrics
        self.registry = registry
        self.queue_snapshot = queue_snapshot
        self.duties = duties
        self.clock = clock
        self.started = time.monotonic()
        self.last_tick = time.monotonic()
        self.ready_sent = False
        self._status_line = ""
        self._textfile_at = 0.0
        self.interval = BUSY_TICK
        # Called with the new interval when the tick should come more or less often.
        self.repace: Callable[[float], None] | None = None

    def tick(self) -> None:
        """Publish status, check conditions, tell systemd; then set the next tick's pace."""
        self.last_tick = time.monotonic()
        for duty in self.duties:
            duty()
        unsent = self.queue_snapshot()["unsent"]
        self.check_conditions(unsent)
        up = any(m.channel.ready for m in self.pool.members.values())
        if not self.ready_sent and (up or time.monotonic() - self.started > READY_GRACE):
            self.ready_sent = True
            sdnotify.notify("READY=1")
        line = self.status_line(unsent)
        if line != self._status_line:
            self._status_line = line
            sdnotify.notify(f"STATUS={line}")
        textfile = self.config.metrics.textfile
        if textfile is not None and time.monotonic() - self._textfile_at >= TEXTFILE_EVERY:
            self._textfile_at = time.monotonic()
            # A full disk is said once, by DiskSpace, not at each write of the metrics.
            if self.disk is None or not self.disk.holds(textfile.parent):
                try:
                    self.metrics.write_textfile(textfile)
                except (OSError, ValueError) as exc:
                    if self.disk is None or not self.disk.report(exc, textfile.parent):
                        log.warning("cannot write metrics to %s: %s", textfile, exc)
        self._pace(BUSY_TICK if self._busy(unsent) else IDLE_TICK)

    def _busy(self, unsent: int) -> bool:
        return (
            unsent > 0
            or not self.ready_sent
            or any(
                not m.channel.ready or m.channel.status().offline
                for m in self.pool.members.values()
            )
            or bool(self.notices.snapshot())
        )

    def _pace(self, interval: float) -> None:
        if interval != self.interval and self.repace is not None:
            self.interval = interval
            self.repace(interval)

    def alive(self) -> bool:
        """For the watchdog: the jobs run and the dispatcher thread is there."""
        members = self.pool.members.values()
        recent = time.monotonic() - self.last_tick < ALIVE_WITHIN
        return recent and all(m.dispatcher.running for m in members)

    def status_line(self, unsent: int | None = None) -> str:
        if unsent is None:
            unsent = self.queue_snapshot()["unsent"]
        parts = []
        for member in self.pool.members.values():
            st = member.channel.status()
            name = f"{member.name} " if len(self.pool.members) > 1 else "modem "
            item = f"{name}{st.state}"
            if st.signal_dbm is not None:
                item += f" {st.signal_dbm} dBm"
            if member.dispatcher.state.blocked is not None:
                item += f" held by {member.dispatcher.state.blocked.window}"
            parts.append(item)
        return ", ".join([*parts, f"{unsent} to send"])

    def check_conditions(self, unsent: int | None = None) -> None:
        notices = self.notices
        notify_after = parse_duration(self.config.health.notify_after)
        pool = len(self.pool.members) > 1
        now = self.clock()
        if unsent is None:
            unsent = self.queue_snapshot()["unsent"]
        for member in self.pool.members.values():
            st = member.channel.status()
            key = f":{member.name}" if pool else ""
            which = f"le modem {member.name}" if pool else "le modem"
            gone = st.state in ("lost", "starting")
            text = f"{which} ne répond plus ou est débranché ({member.config.port})"
            if st.kind == "smpp":
                text = f"le lien SMPP {member.name} est coupé ({st.where}: {st.detail})"
            notices.condition("modem_gone" + key, gone, text)
            notices.condition(
                "sim" + key,
                st.state == "failed",
                f"problème de SIM ({which}): {st.detail}",
                immediate=True,
            )
            no_network = st.state == "ready" and st.offline
            notices.condition(
                "network" + key, no_network, f"pas de réseau pour {which} ({st.network})"
            )
            blocked = member.dispatcher.state.blocked
            held = (
                blocked is not None
                and blocked.reopens_at is not None
                and blocked.reopens_at - now > notify_after
                and unsent > 0
            )
            text = "limite SIM atteinte"
            if blocked is not None and blocked.reopens_at is not None:
                until = datetime.fromtimestamp(blocked.reopens_at).strftime("%d/%m %H:%M")
                sim = f" ({member.name})" if pool else ""
                text = (
                    f"limite SIM {blocked.window} atteinte{sim}, {unsent} SMS en attente, "
                    f"reprise vers {until}"
                )
            notices.condition("window" + key, held, text, immediate=True)

    def self_test(self) -> None:
        st = self.pool.first.channel.status()
        self.notices.send(
            f"test quotidien: modemd fonctionne. {self.registry.count()} membres actifs, "
            f"signal {st.signal_quality}, {st.operator or 'opérateur inconnu'}."
        )


__all__ = ["BUSY_TICK", "IDLE_TICK", "Supervisor", "quiet_scheduler_log"]
