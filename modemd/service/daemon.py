"""``modemd run``: wires store, modem, spool and dispatcher together, and handles signals.

SIGTERM/SIGINT: the part in flight finishes, state is saved, exit 0. SIGHUP: limits, alert
settings and replies are reloaded from the configuration without touching the queue.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from modemd.channels.base import InboundSms, Receipt
from modemd.config import Config, ConfigError, load_config, parse_duration
from modemd.diskspace import DiskSpace
from modemd.inbound.handler import Inbound
from modemd.members.registry import Registry
from modemd.modem.device import Modem
from modemd.modem.receiver import KeepForLater
from modemd.operations.wake import WakeListener
from modemd.pipeline.dispatcher import Dispatcher
from modemd.pipeline.outbox import Outbox
from modemd.pipeline.pool import Member, Pool
from modemd.pipeline.spool import Intake, Outcome, Spool, SpoolWatcher
from modemd.pipeline.throttle import HISTORY, Throttle
from modemd.service import sdnotify
from modemd.service.metrics import Metrics
from modemd.service.notices import Notices
from modemd.service.retention import purge
from modemd.service.supervisor import BUSY_TICK, Supervisor, quiet_scheduler_log
from modemd.service.webhooks import WebhookPool
from modemd.sms.parts import Composition
from modemd.sms_commands.desk import SmsDesk
from modemd.store.db import Database, open_database
from modemd.store.lock import STATUS_FILE, StateLock

log = logging.getLogger(__name__)
# How the journal names each kind of channel ("modem orange ready", "SMPP link agg lost").
CHANNEL_WORDS = {"modem": "modem", "smpp": "SMPP link", "file": "file channel"}

REPORT_PATIENCE = 60.0  # seconds a status report may wait for its part to be recorded


class Daemon:
    def __init__(
        self, config: Config, *, polling: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.clock = clock
        self.spool = Spool(config.spool_dir)
        self.db: Database | None = None
        self.started_at = time.time()
        self._polling = polling
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._reports_lock = threading.Lock()
        self._unmatched: list[tuple[float, Receipt]] = []
        self._state_lock = StateLock(config.state_dir)
        self._audit_seen: int | None = None  # audit entries the log has been told about
        self.webhooks: WebhookPool | None = None

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        # Before anything else touches the state or the modem: one daemon per state folder.
        self._state_lock.acquire()
        self.spool.ensure()
        self.db = open_database(cfg.state_dir)
        self.registry = Registry(self.db)
        self.outbox = Outbox(self.db)
        self.disk = DiskSpace(
            [cfg.state_dir, cfg.spool_dir],
            on_full=lambda text: self.notices.condition("disk_full", True, text, immediate=True),
            on_room=self._sweep_waiting,
            on_over=self._room_back,
        )
        now = self.clock()
        self.outbox.prune_send_log(now - HISTORY)
        recovered = self.outbox.recover()
        if recovered:
            log.warning("%d part(s) were in flight at the last stop; they go again", recovered)
        self.pool = Pool(
            cfg,
            self.outbox,
            cfg.state_dir,
            on_message=self._on_message,
            on_receipt=self._on_receipt,
            on_state=self._on_modem_state,
            clock=self.clock,
        )
        self.notices = Notices(
            self.db,
            self.outbox,
            cfg.inbound.operator_numbers,
            parse_duration(cfg.health.notify_after),
            clock=self.clock,
            on_queued=self._wake_dispatcher,
            direct=self._send_direct,
        )
        for member in self.pool.members.values():
            member.dispatcher.disk = self.disk
        self.intake = Intake(
            self.spool,
            self.outbox,
            self.registry,
            cfg.alerts,
            on_accepted=self._on_accepted,
            clock=self.clock,
        )
        # Commands from registered senders (alerts by SMS) go to the SMS desk first.
        self.sms_desk = SmsDesk(cfg, self.db, clock=self.clock)
        self.inbound = Inbound(
            self.db,
            self.outbox,
            self.registry,
            cfg.inbound,
            self.spool.incoming,
            clock=self.clock,
            on_queued=self._wake_dispatcher,
            commands=self.sms_desk,
        )
        self.watcher = SpoolWatcher(
            self.spool, self.intake.take, polling=self._polling, disk=self.disk
        )
        self.metrics = Metrics(self.status_snapshot)
        self.supervisor = Supervisor(
            cfg,
            self.pool,
            self.notices,
            self.metrics,
            self.registry,
            self.queue_snapshot,
            # Delivery reports that beat the commit of their part are retried at each tick.
            duties=[self.expire, self._retry_reports, self._report_sms_alerts, self.publish_status],
            clock=self.clock,
            disk=self.disk,
        )
        quiet_scheduler_log()
        self.scheduler = BackgroundScheduler(
            daemon=True, job_defaults={"coalesce": True, "max_instances": 1}
        )
        # The tick sets its own pace (every second with work, less often idle).
        self.scheduler.add_job(self.supervisor.tick, "interval", seconds=BUSY_TICK, id="tick")
        self.supervisor.repace = lambda seconds: self.scheduler.reschedule_job(
            "tick", trigger="interval", seconds=seconds
        )
        self.scheduler.add_job(
            self._health,
            "interval",
            seconds=parse_duration(cfg.health.check_interval),
            id="health",
        )
        self.scheduler.add_job(
            self._purge, "interval", hours=6, next_run_time=datetime.now(UTC), id="retention"
        )
        if cfg.health.self_test:
            hour, minute = cfg.health.self_test.split(":")
            self.scheduler.add_job(
                self.supervisor.self_test,
                "cron",
                hour=int(hour),
                minute=int(minute),
                id="self_test",
            )
        self.pool.start()
        # An alert submitted through the operations, from another process, wakes us at once.
        self.wake_listener = WakeListener(cfg.state_dir, self._woken)
        self.wake_listener.start()
        self.watcher.start()
        self.scheduler.start()
        self.webhooks = WebhookPool(cfg)
        self.webhooks.start()
        if cfg.metrics.listen:
            try:
                self.metrics.serve(cfg.metrics.listen)
            except (OSError, ValueError) as exc:
                log.error("metrics endpoint %s not started: %s", cfg.metrics.listen, exc)
        log.info(
            "modemd started: spool %s, state %s, modem(s) %s",
            cfg.spool_dir,
            cfg.state_dir,
            ", ".join(f"{m.name} on {m.port}" for m in cfg.pool()),
        )

    # Single-modem views (the usual set-up, and what tests and tools look at first).
    @property
    def modem(self) -> Modem:
        """The first channel's modem (a tool's or a test's view; a file channel has none)."""
        from modemd.channels.modem import ModemChannel

        channel = self.pool.first.channel
        if not isinstance(channel, ModemChannel):
            raise AttributeError(f"channel {channel.name} is a {channel.kind}, not a modem")
        return channel.modem

    @property
    def throttle(self) -> Throttle:
        return self.pool.first.throttle

    @property
    def dispatcher(self) -> Dispatcher:
        return self.pool.first.dispatcher

    def stop(self) -> None:
        log.info("stopping: finishing the part in flight")
        sdnotify.notify("STOPPING=1")
        # The wake socket first: a wake-up would otherwise reach a scheduler already shut.
        self.wake_listener.stop()
        self.scheduler.shutdown(wait=False)
        if self.webhooks is not None:
            self.webhooks.stop()
        self.metrics.stop()
        self.watcher.stop()
        self.pool.stop()
        self.publish_status()
        if self.db is not None:
            self.db.close()
        self._state_lock.release()
        log.info("modemd stopped")

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; the main thread only reloads and pings the watchdog."""
        faulthandler.enable()  # a watchdog kill leaves every thread's traceback in the journal
        # Every signal wakes the main thread, which otherwise sleeps: idle, a Pi's daemon does
        # not wake every second for nothing.
        awake = threading.Event()

        def on_signal(flag: threading.Event) -> None:
            flag.set()
            awake.set()

        signal.signal(signal.SIGTERM, lambda *_: on_signal(self._stop))
        signal.signal(signal.SIGINT, lambda *_: on_signal(self._stop))
        signal.signal(signal.SIGHUP, lambda *_: on_signal(self._reload))
        self.start()
        watchdog = sdnotify.watchdog_interval()
        pinged = 0.0
        try:
            while not self._stop.is_set():
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
                if watchdog and time.monotonic() - pinged >= watchdog and self.supervisor.alive():
                    sdnotify.notify("WATCHDOG=1")
                    pinged = time.monotonic()
                # With a watchdog, look often enough that one stale moment costs no ping.
                awake.wait(min(5.0, watchdog / 2) if watchdog else None)
                awake.clear()
        finally:
            self.stop()
        return 0

    def reload(self) -> None:
        source = self.config.source
        if source is None:
            return
        try:
            fresh = load_config(source)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return
        self.config = dataclasses.replace(
            self.config, limits=fresh.limits, alerts=fresh.alerts, inbound=fresh.inbound
        )
        self.pool.reconfigure(self.config)
        self.intake.config = fresh.alerts
        self.inbound.config = fresh.inbound
        sdnotify.notify("RELOADING=0")
        self.dispatcher.wake()
        log.info("configuration reloaded: limits, alerts and replies")

    # ------------------------------------------------------------------------- callbacks
    def _on_accepted(self, outcome: Outcome) -> None:
        self.pool.wake()

    def _report_sms_alerts(self) -> None:
        """An alert raised by SMS has ended: its sender is told how it went."""
        if self.sms_desk.report_finished():
            self.pool.wake()

    def _woken(self) -> None:
        """Work queued by another process: the dispatchers look now, and the status file is
        published now (not at the next tick), so a reader sees the new queue within 1 s."""
        self.pool.wake()
        self.scheduler.modify_job("tick", next_run_time=datetime.now(UTC))

    def _wake_dispatcher(self) -> None:
        self.pool.wake()

    def _send_direct(self, phone: str, composition: Composition) -> None:
        """A notice the queue cannot take (a full disk) goes from memory, by a sending SIM."""
        senders = [m for m in self.pool.members.values() if m.config.role != "receive"]
        usable = [m for m in senders if m.usable] or senders or [self.pool.first]
        usable[0].dispatcher.send_direct(phone, composition)

    def _sweep_waiting(self) -> None:
        """Room is back on the disk: first the SMS that waited on the SIM (a STOP), while
        sending still holds, so nothing goes to a number that asked to leave meanwhile."""
        for member in self.pool.members.values():
            member.channel.sweep(wait=5.0)

    def _room_back(self, text: str) -> None:
        """Then the files that waited in outgoing/ and the queue, and the operators told."""
        self.watcher.room_back()
        self.pool.wake()
        self.notices.condition("disk_full", True, text)  # "résolu" says what is free now
        self.notices.condition("disk_full", False, text)

    def _on_message(self, message: InboundSms) -> None:
        # Runs on the channel's worker; a modem deletes the message only after this returns,
        # and everything it decided is committed by then.
        try:
            self.inbound.handle(message, via=message.channel)
        except Exception as exc:
            if self.disk.report(exc, self.config.state_dir):
                raise KeepForLater("the disk is full") from exc
            raise

    def _on_receipt(self, receipt: Receipt) -> None:
        try:
            matched = self.outbox.apply_receipt(receipt, self.clock())
        except Exception as exc:
            if not self.disk.report(exc, self.config.state_dir):
                raise
            matched = False  # kept below and applied once the disk has room
        if not matched:
            # The receipt can beat the commit of the part it is about: try again shortly.
            with self._reports_lock:
                self._unmatched.append((self.clock(), receipt))

    def _retry_reports(self) -> None:
        if self.disk.holds(self.config.state_dir):
            return  # nothing can be recorded on a full disk; retried once there is room
        with self._reports_lock:
            pending, self._unmatched = self._unmatched, []
        now = self.clock()
        for received, receipt in pending:
            if self.outbox.apply_receipt(receipt, now):
                continue
            if now - received < REPORT_PATIENCE:
                with self._reports_lock:
                    self._unmatched.append((received, receipt))
            else:
                log.debug(
                    "receipt for message %s on %s matches no sent part",
                    receipt.message_id,
                    receipt.channel,
                )

    def _health(self) -> None:
        for member in self.pool.members.values():
            member.channel.check()

    def expire(self) -> None:
        """Alerts past their expiry: what is unsent is cancelled and reported."""
        if self.disk.holds(self.config.state_dir):
            return  # nothing can be recorded on a full disk; expiry resumes with room
        for alert_id, cancelled in self.outbox.expire(self.clock()):
            log.warning("alert %s expired; %d recipient(s) not served", alert_id, cancelled)
            if cancelled:
                self.notices.event(
                    f"alerte {alert_id} expirée: {cancelled} destinataire(s) non servi(s)"
                )
        self._log_cancellations()

    def _log_cancellations(self) -> None:
        """`modemd alert cancel` writes to the database from another process: the daemon's
        log says it too, from the audit trail."""
        assert self.db is not None
        last = self.db.one("SELECT MAX(id) AS id FROM audit")
        upto = int(last["id"] or 0) if last else 0
        if self._audit_seen is None or upto <= self._audit_seen:
            self._audit_seen = upto  # at start: what was cancelled before is old news
            return
        for row in self.db.query(
            "SELECT alert_id, detail FROM audit WHERE id > ? AND id <= ? "
            "AND event = 'cancelled' ORDER BY id",
            (self._audit_seen, upto),
        ):
            detail = json.loads(row["detail"] or "{}")
            log.warning(
                "alert %s cancelled by %s: %s recipient(s) left out, %s begun message(s) "
                "being finished",
                row["alert_id"],
                detail.get("by", "?"),
                detail.get("cancelled", "?"),
                detail.get("begun", 0),
            )
        self._audit_seen = upto

    def queue_snapshot(self) -> dict[str, int]:
        assert self.db is not None
        row = self.db.one(
            "SELECT COUNT(*) AS unsent, COUNT(DISTINCT a.id) AS alerts FROM deliveries d "
            "JOIN alerts a ON a.id = d.alert_id WHERE a.state = 'active' "
            "AND d.state IN ('queued', 'sending')"
        )
        return {
            "unsent": int(row["unsent"]) if row else 0,
            "alerts_active": int(row["alerts"]) if row else 0,
        }

    def _purge(self) -> None:
        assert self.db is not None
        purge(self.db, self.spool.incoming, self.config.retention, self.clock())

    def _on_modem_state(self, modem: str, state: str, detail: str) -> None:
        member = self.pool.members.get(modem)
        kind = CHANNEL_WORDS.get(member.channel.kind, "modem") if member else "modem"
        log.info("%s %s %s%s", kind, modem, state, f": {detail}" if detail else "")
        self.pool.wake()

    # --------------------------------------------------------------------------- status
    def status_snapshot(self) -> dict[str, Any]:
        now = self.clock()
        modems = [self._member_snapshot(m, now) for m in self.pool.members.values()]
        first = modems[0]
        blocked = next(
            (m["dispatcher"]["blocked"] for m in modems if m["dispatcher"]["blocked"]), None
        )
        return {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": now,
            "modem": first["modem"],
            "modems": modems,
            "dispatcher": {
                **first["dispatcher"],
                "sent_parts": sum(m["dispatcher"]["sent_parts"] for m in modems),
                "failed_parts": sum(m["dispatcher"]["failed_parts"] for m in modems),
                "blocked": blocked,
                "errors": sorted(
                    (e for m in modems for e in m["dispatcher"]["errors"]), key=lambda e: e["at"]
                )[-10:],
            },
            "throttle": first["throttle"],
            "queue": self.queue_snapshot(),
            "inbound": dict(self.inbound.counts),
            "notices": self.notices.snapshot(),
        }

    @staticmethod
    def _member_snapshot(member: Member, now: float) -> dict[str, Any]:
        st = member.channel.status()
        ds = member.dispatcher.state
        facts = st.facts
        return {
            "name": member.name,
            "role": member.config.role,
            "use": member.config.use,
            "facts": facts if st.kind == "smpp" else {},  # a link's window, throughput...
            "modem": {
                "name": member.name,
                "kind": st.kind,
                "port": st.where,
                "state": st.state,
                "detail": st.detail,
                "profile": facts.get("profile", st.kind),
                "manufacturer": facts.get("manufacturer", ""),
                "model": facts.get("model", ""),
                "operator": st.operator,
                "signal_rssi": facts.get("signal_rssi"),
                "signal_dbm": st.signal_dbm,
                "signal_quality": st.signal_quality,
                "registration": st.network or "unknown",
                "registered": facts.get("registered"),
                "smsc": facts.get("smsc"),
                "since": st.since,
            },
            "dispatcher": {
                # A window holding the queue: the last message sent is not being sent now.
                "current": ds.current if ds.blocked is None else None,
                "sent_parts": ds.sent_parts,
                "failed_parts": ds.failed_parts,
                "part_seconds": ds.part_seconds,
                "paused_until": ds.paused_until,
                "blocked": None
                if ds.blocked is None
                else {"window": ds.blocked.window, "reopens_at": ds.blocked.reopens_at},
                "errors": [{"at": at, "error": text} for at, text in ds.errors],
            },
            "throttle": [dataclasses.asdict(u) for u in member.throttle.usage(now)],
        }

    def publish_status(self) -> None:
        # At each tick: a full disk is announced here, and room coming back noticed.
        self.disk.check()
        path = self.config.state_dir / STATUS_FILE
        if self.disk.holds(path):
            return  # a full disk, said once; the status file is written again with room
        tmp = path.with_name("." + STATUS_FILE + ".tmp")
        try:
            tmp.write_text(json.dumps(self.status_snapshot(), ensure_ascii=False))
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if not self.disk.report(exc, self.config.state_dir):
                log.warning("cannot write %s: %s", path, exc)
