"""Deliveries ended from outside the send path: a STOP, a member removed or marked as gone.

Whoever cancels the last unsent SMS of an alert also finishes that alert, in the same
transaction; otherwise an alert whose remaining recipients all said STOP would stay
"active" with nothing left to send, and its sender would wait for it for ever.
"""

from __future__ import annotations

import sqlite3

from modemd.store import audit

UNFINISHED = ("queued", "sending")


def cancel_unsent_to(conn: sqlite3.Connection, phone: str, reason: str, now: float) -> int:
    """Every unfinished SMS to ``phone`` cancelled with ``reason``; returns how many."""
    alerts = [
        str(row["alert_id"])
        for row in conn.execute(
            "SELECT DISTINCT alert_id FROM deliveries WHERE phone = ? AND state IN (?, ?)",
            (phone, *UNFINISHED),
        )
    ]
    cursor = conn.execute(
        "UPDATE deliveries SET state = 'cancelled', last_error = ? "
        "WHERE phone = ? AND state IN (?, ?)",
        (reason, phone, *UNFINISHED),
    )
    for alert_id in alerts:
        finish_if_done(conn, alert_id, now)
    return cursor.rowcount


def finish_if_done(conn: sqlite3.Connection, alert_id: str, now: float) -> None:
    """An active alert with no unfinished delivery left is done (and the trail says so)."""
    left = conn.execute(
        "SELECT 1 FROM deliveries WHERE alert_id = ? AND state IN (?, ?) LIMIT 1",
        (alert_id, *UNFINISHED),
    ).fetchone()
    if left is None:
        updated = conn.execute(
            "UPDATE alerts SET state = 'done', finished_at = ? WHERE id = ? AND state = 'active'",
            (now, alert_id),
        )
        if updated.rowcount:
            audit.record(conn, now, "done", alert_id=alert_id)
