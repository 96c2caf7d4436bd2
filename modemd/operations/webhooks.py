"""Webhooks' events, made from what modemd records anyway: the audit trail (alerts accepted,
sent, failed, done, cancelled, expired; opt-outs, join requests, problems) and the inbound
log. Each webhook reads them from its own cursor into its own queue, in one transaction, so
no send path waits on a webhook and a crash loses nothing. An event's id comes from the row
it was made from: the same event always has the same id, and a receiver can drop repeats.

The queue is delivered in order: a webhook's next event waits until the one before it was
delivered or given up (after ``give_up_after``), retries doubling from ``retry_first`` up
to ``retry_max``."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modemd.config import WebhookConfig, parse_duration
from modemd.store.db import Database

SIGNATURE_HEADER = "Modemd-Signature"
BATCH = 500  # source rows read per pass: a long outage catches up in steps

# Audit events -> webhook events. "sent" and "failed" are one recipient each.
FROM_AUDIT: dict[str, tuple[str, ...]] = {
    "accepted": ("alert.accepted",),
    "done": ("alert.completed",),
    "cancelled": ("alert.completed",),
    "expired": ("alert.completed",),
    "sent": ("delivery.updated", "alert.progress"),
    "failed": ("delivery.updated", "alert.progress"),
    "report": ("delivery.updated",),  # a delivery report: delivered, or failed after all
    "member_unsubscribed": ("member.unsubscribed",),
    "member_requested": ("member.join_requested",),
    "problem_opened": ("problem.opened",),
    "problem_closed": ("problem.closed",),
}
# Commands from registered senders are theirs, not members' replies.
INBOUND_KINDS_LEFT_OUT = ("command",)


def signature(secret: str, body: bytes, at: int) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``: a receiver recomputes it with the
    secret it shares, and refuses an old ``t`` (a replay)."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def _counts(conn: sqlite3.Connection, alert_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT a.state, COUNT(d.id) AS total, SUM(d.state = 'sent') AS sent, "
        "SUM(d.state = 'failed') AS failed, SUM(d.state = 'cancelled') AS cancelled "
        "FROM alerts a LEFT JOIN deliveries d ON d.alert_id = a.id WHERE a.id = ? "
        "GROUP BY a.id",
        (alert_id,),
    ).fetchone()
    if row is None:
        return {}
    return {k: row[k] or 0 for k in ("total", "sent", "failed", "cancelled")} | {
        "state": row["state"]
    }


Made = tuple[str, str, dict[str, Any]]  # event id, type, data


def _audit_events(conn: sqlite3.Connection, r: sqlite3.Row) -> list[Made]:
    names = FROM_AUDIT.get(str(r["event"]), ())
    detail = json.loads(r["detail"]) if r["detail"] else {}
    found = []
    for name in names:
        data: dict[str, Any] = {"actor": r["actor"]}
        if r["alert_id"]:
            data["alert_id"] = r["alert_id"]
        if r["phone"]:
            data["phone"] = r["phone"]
        if name == "delivery.updated":
            if r["event"] == "report":
                data["report"] = detail.get("report")
            else:
                data["state"] = r["event"]
            if "error" in detail:
                data["error"] = detail["error"]
        elif name in ("alert.progress", "alert.completed"):
            data.update(_counts(conn, str(r["alert_id"])))
            if name == "alert.completed":
                data["state"] = r["event"]  # done, cancelled or expired
        elif name == "alert.accepted":
            data.update({k: detail.get(k) for k in ("recipients", "parts", "priority")})
        elif name.startswith("problem."):
            data.update({k: detail.get(k) for k in ("problem", "text")})
        else:
            data.update(detail)
        suffix = "" if len(names) == 1 else f"-{name.split('.')[0]}"
        found.append((f"evt_a{r['id']}{suffix}", name, data))
    return found


def _enqueue(conn: sqlite3.Connection, hook: WebhookConfig, at: float, event_id: str,
             name: str, data: dict[str, Any], now: float) -> None:
    if hook.events and name not in hook.events:
        return
    body = json.dumps(
        {"id": event_id, "type": name, "created_at": _iso(at), "data": data},
        ensure_ascii=False, sort_keys=True,
    )
    conn.execute(
        "INSERT OR IGNORE INTO webhook_events (webhook, event_id, type, body, created_at, "
        "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
        (hook.url, event_id, name, body, at, now),
    )


def collect(db: Database, hook: WebhookConfig, now: float | None = None) -> int:
    """Queue the webhook's events recorded since its cursor; returns how many rows were
    read. A webhook seen for the first time starts from now: it is told of what happens
    from then on, not of the whole history."""
    now = time.time() if now is None else now
    with db.transaction() as conn:
        cursor = conn.execute(
            "SELECT audit_id, inbound_id FROM webhook_cursors WHERE webhook = ?", (hook.url,)
        ).fetchone()
        if cursor is None:
            conn.execute(
                "INSERT INTO webhook_cursors (webhook, audit_id, inbound_id) VALUES (?, "
                "(SELECT IFNULL(MAX(id), 0) FROM audit), (SELECT IFNULL(MAX(id), 0) FROM inbound))",
                (hook.url,),
            )
            return 0
        audit_rows = conn.execute(
            "SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?", (cursor["audit_id"], BATCH)
        ).fetchall()
        inbound_rows = conn.execute(
            "SELECT id, at, phone, kind, text FROM inbound WHERE id > ? ORDER BY id LIMIT ?",
            (cursor["inbound_id"], BATCH),
        ).fetchall()
        made: list[tuple[float, int, str, str, dict[str, Any]]] = []
        for r in audit_rows:
            for event_id, name, data in _audit_events(conn, r):
                made.append((float(r["at"]), 0, event_id, name, data))
        for r in inbound_rows:
            if r["kind"] in INBOUND_KINDS_LEFT_OUT:
                continue
            data = {"inbound_id": r["id"], "phone": r["phone"], "kind": r["kind"],
                    "text": r["text"]}
            made.append((float(r["at"]), 1, f"evt_i{r['id']}", "inbound.received", data))
        for at, _, event_id, name, data in sorted(made, key=lambda m: (m[0], m[1])):
            _enqueue(conn, hook, at, event_id, name, data, now)
        conn.execute(
            "UPDATE webhook_cursors SET audit_id = ?, inbound_id = ? WHERE webhook = ?",
            (
                audit_rows[-1]["id"] if audit_rows else cursor["audit_id"],
                inbound_rows[-1]["id"] if inbound_rows else cursor["inbound_id"],
                hook.url,
            ),
        )
    return len(audit_rows) + len(inbound_rows)


@dataclass(frozen=True)
class Pending:
    id: int
    event_id: str
    type: str
    body: bytes
    created_at: float
    attempts: int
    next_attempt_at: float


def head(db: Database, hook: WebhookConfig) -> Pending | None:
    """The webhook's oldest undelivered event (its order is the queue's), due or not."""
    r = db.one(
        "SELECT * FROM webhook_events WHERE webhook = ? AND state = 'queued' ORDER BY id LIMIT 1",
        (hook.url,),
    )
    if r is None:
        return None
    return Pending(int(r["id"]), str(r["event_id"]), str(r["type"]), str(r["body"]).encode(),
                   float(r["created_at"]), int(r["attempts"]), float(r["next_attempt_at"]))


def delivered(db: Database, event: Pending, now: float | None = None) -> None:
    with db.transaction() as conn:
        conn.execute(
            "UPDATE webhook_events SET state = 'delivered', attempts = attempts + 1, "
            "finished_at = ?, last_error = NULL WHERE id = ?",
            (time.time() if now is None else now, event.id),
        )


def refused(db: Database, hook: WebhookConfig, event: Pending, error: str,
            now: float | None = None) -> bool:
    """An attempt failed: try again later, or give up past ``give_up_after`` (True)."""
    now = time.time() if now is None else now
    attempts = event.attempts + 1
    give_up = now - event.created_at >= parse_duration(hook.give_up_after)
    wait = min(
        parse_duration(hook.retry_max),
        parse_duration(hook.retry_first) * 2 ** min(attempts - 1, 30),
    )
    with db.transaction() as conn:
        conn.execute(
            "UPDATE webhook_events SET attempts = ?, last_error = ?, next_attempt_at = ?, "
            "state = ?, finished_at = ? WHERE id = ?",
            (attempts, error[:300], now + wait, "failed" if give_up else "queued",
             now if give_up else None, event.id),
        )
    return give_up


@dataclass(frozen=True)
class WebhookHealth:
    url: str
    queued: int
    failed: int
    last_error: str | None


def webhook_health(db: Database) -> list[WebhookHealth]:
    """Per webhook: events waiting, events given up, the last error (the dashboard's)."""
    rows = db.query(
        "SELECT webhook, SUM(state = 'queued') AS queued, SUM(state = 'failed') AS failed, "
        "(SELECT last_error FROM webhook_events e WHERE e.webhook = w.webhook AND "
        "last_error IS NOT NULL ORDER BY id DESC LIMIT 1) AS last_error "
        "FROM webhook_events w GROUP BY webhook ORDER BY webhook"
    )
    return [
        WebhookHealth(str(r["webhook"]), int(r["queued"] or 0), int(r["failed"] or 0),
                      r["last_error"])
        for r in rows
    ]

