"""The live state as one typed view: is a daemon running, its last snapshot, each SIM's
windows, the active alerts and their ETA (each after those ahead of it)."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

from modemd.config import Config
from modemd.operations.live import read_status
from modemd.operations.plans import named_sims
from modemd.operations.queries import Progress, progress
from modemd.operations.webhooks import WebhookHealth, webhook_health
from modemd.pipeline.throttle import pool_estimate
from modemd.store.db import Database
from modemd.store.lock import running_pid


@dataclass(frozen=True)
class StatusView:
    running: bool
    pid: int | None
    last_seen: float | None  # the snapshot's own time, even a stale one
    live: dict[str, Any] | None  # the running daemon's snapshot; None without one
    windows: list[tuple[str, list[dict[str, Any]]]]  # each SIM's windows, by modem name
    alerts: list[Progress]
    eta: dict[str, float | None]  # seconds until each active alert is sent; None: no ETA
    webhooks: list[WebhookHealth] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "pid": self.pid,
            "last_seen": self.last_seen,
            "daemon": self.live,
            "windows": dict(self.windows),
            "alerts": [
                {**a.as_dict(), "eta_seconds": self.eta.get(a.alert_id)} for a in self.alerts
            ],
            "webhooks": [
                {"queued": w.queued, "failed": w.failed, "last_error": w.last_error}
                for w in self.webhooks
            ],  # counts only: a webhook's URL may carry a key
        }


def eta_channels(config: Config, live: dict[str, Any] | None) -> set[str]:
    """The channels an ETA counts: those that can send now and will take the queue, the
    primary ones, or while none of them can, the backups (as the pool routes). Overflow
    links join only an urgent alert the others would be slow on: not counted. None (or no
    daemon): no ETA at all."""
    ready = {
        m["name"]
        for m in (live or {}).get("modems", [])
        if m["modem"]["state"] == "ready" and m["modem"]["registered"] is not False
    }
    use = {m.name: m.use for m in config.pool()}
    primary = {name for name in ready if use.get(name, "primary") == "primary"}
    return primary or {name for name in ready if use.get(name) == "backup"}


def status(config: Config, db: Database) -> StatusView:
    pid = running_pid(config.state_dir)
    snapshot = read_status(config.state_dir)
    last_seen = float(snapshot["updated_at"]) if snapshot and "updated_at" in snapshot else None
    live = (
        snapshot
        if pid is not None
        and snapshot is not None
        and not snapshot.get("stale")
        and pid in (0, snapshot.get("pid"))
        else None
    )
    senders = eta_channels(config, live)
    alerts = progress(db, active_only=True)
    sims = [(throttle, speed) for _, throttle, speed in named_sims(config, db, senders)]
    windows = [
        (name, [dataclasses.asdict(u) for u in throttle.usage(time.time())])
        for name, throttle, _ in named_sims(config, db)
    ]
    eta: dict[str, float | None] = {}
    pending = 0.0
    now = time.time()
    for a in sorted(alerts, key=lambda p: (p.priority != "urgent", p.created_at)):
        if not sims:
            eta[a.alert_id] = None
            continue
        # Alerts go one after the other, so each ETA includes those ahead of it.
        pending += pool_estimate(sims, now + pending, a.unsent, a.parts)
        eta[a.alert_id] = math.ceil(pending) if a.unsent else 0
    return StatusView(
        pid is not None, pid, last_seen, live, windows, alerts, eta, webhook_health(db)
    )
