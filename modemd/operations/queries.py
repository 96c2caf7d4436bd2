"""What is in the queue: each alert's progress, and one alert per recipient. Read-only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modemd.store.db import Database

PRIORITY_NAMES = {-1: "own", 0: "urgent", 1: "normal"}  # own: modemd's replies, forwards


@dataclass(frozen=True)
class Progress:
    alert_id: str
    state: str
    priority: str
    category: str
    created_at: float
    expires_at: float
    parts: int
    total: int
    sent: int
    failed: int
    cancelled: int
    delivered: int
    issued_by: str | None

    @property
    def unsent(self) -> int:
        return self.total - self.sent - self.failed - self.cancelled

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "unsent": self.unsent}


def progress(
    db: Database, *, active_only: bool = False, limit: int = 20, alert_id: str | None = None
) -> list[Progress]:
    where = ["a.kind = 'alert'"]  # replies and forwards are modemd's own, not alerts
    params: list[object] = []
    if active_only:
        where.append("a.state = 'active'")
    if alert_id is not None:
        where.append("(a.id = ? OR a.idempotency_key = ?)")
        params += [alert_id, alert_id]
    # The newest alerts first, then only their deliveries counted: the cost follows the
    # alerts shown, not every alert ever sent.
    sql = (
        "SELECT a.*, "
        "COUNT(d.id) AS total, "
        "SUM(d.state = 'sent') AS sent, SUM(d.state = 'failed') AS failed, "
        "SUM(d.state = 'cancelled') AS cancelled, SUM(d.report = 'delivered') AS delivered "
        f"FROM (SELECT * FROM alerts a WHERE {' AND '.join(where)} "
        "ORDER BY a.created_at DESC LIMIT ?) a "
        "LEFT JOIN deliveries d ON d.alert_id = a.id "
        "GROUP BY a.id ORDER BY a.created_at DESC"
    )
    rows = db.query(sql, (*params, limit))
    return [
        Progress(
            alert_id=r["id"],
            state=r["state"],
            priority=PRIORITY_NAMES[r["priority"]],
            category=r["category"],
            created_at=r["created_at"],
            expires_at=r["expires_at"],
            parts=r["parts"],
            total=r["total"] or 0,
            sent=r["sent"] or 0,
            failed=r["failed"] or 0,
            cancelled=r["cancelled"] or 0,
            delivered=r["delivered"] or 0,
            issued_by=r["issued_by"],
        )
        for r in rows
    ]


def alert_detail(db: Database, alert_id: str) -> dict[str, Any] | None:
    row = db.one("SELECT * FROM alerts WHERE id = ? OR idempotency_key = ?", (alert_id, alert_id))
    if row is None:
        return None
    alert = dict(row)
    alert["target"] = json.loads(alert["target"])
    alert["priority"] = PRIORITY_NAMES[alert["priority"]]
    deliveries = db.query(
        "SELECT d.phone, s.name, d.state, d.parts_sent, d.attempts, d.last_error, d.sent_at, "
        "d.report FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id "
        "WHERE d.alert_id = ? ORDER BY d.id",
        (alert["id"],),
    )
    alert["deliveries"] = [dict(d) for d in deliveries]
    sent = [d for d in alert["deliveries"] if d["state"] == "sent"]
    # What delivery receipts said of the recipients served ("X of Y delivered").
    alert["receipts"] = {
        "sent": len(sent),
        "delivered": sum(d["report"] == "delivered" for d in sent),
        "failed": sum(d["report"] == "failed" for d in sent),
        "awaiting": sum(d["report"] not in ("delivered", "failed") for d in sent),
    }
    return alert


RecipientState = tuple[str, str, str | None, float | None]


def recipient_states(db: Database, alert_id: str) -> list[RecipientState]:
    """Each recipient of an alert as (phone, state, delivery report, sent at): what a live
    view refreshes."""
    rows = db.query(
        "SELECT d.phone, d.state, d.report, d.sent_at FROM deliveries d JOIN alerts a "
        "ON a.id = d.alert_id WHERE a.id = ? OR a.idempotency_key = ? ORDER BY d.id",
        (alert_id, alert_id),
    )
    return [(r["phone"], r["state"], r["report"], r["sent_at"]) for r in rows]
