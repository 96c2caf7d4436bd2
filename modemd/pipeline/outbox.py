"""The durable queue: alerts, their deliveries and each part's fate, in SQLite.

Every method is one transaction. Each part's journal (in flight, sent, failed, in doubt,
recovered after a crash) and the receipts matched to parts are in ``modemd.pipeline.parts``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from modemd.members.registry import Subscriber
from modemd.pipeline.alerts import AlertRequest
from modemd.pipeline.parts import PartRecords
from modemd.sms.parts import Composition, Encoding
from modemd.store import audit
from modemd.store.db import Database
from modemd.store.deliveries import finish_if_done

UNSENT = ("queued", "sending")
CLAIM_SCAN = 64  # deliveries looked at per alert when the pool leaves some to other modems


@dataclass(frozen=True)
class Accepted:
    alert_id: str
    recipients: int
    duplicate: bool  # the same `id` was accepted before; nothing new queued
    done_name: str | None


@dataclass(frozen=True)
class Job:
    """One recipient's SMS, possibly half sent."""

    delivery_id: int
    alert_id: str
    phone: str
    text: str
    encoding: Encoding
    parts: int
    parts_sent: int
    resume: str | None  # the channel's note on a half-sent message
    attempts: int
    expires_at: float
    priority: int
    modem: str | None = None  # pinned to this modem (a reply), or any


def _utc_stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")


class Outbox(PartRecords):
    def __init__(self, db: Database) -> None:
        self.db = db
        # Deliveries being sent, by modem: the pool's dispatchers share this outbox.
        self._claims: dict[int, str] = {}
        self._claims_lock = threading.Lock()

    # --------------------------------------------------------------------------- intake
    def accept(
        self,
        request: AlertRequest,
        recipients: list[Subscriber],
        *,
        source_name: str | None,
        source_sha256: str | None,
        now: float | None = None,
        actor: str = "system",
        client: str | None = None,
    ) -> Accepted:
        """Store an alert and one delivery per recipient, atomically; idempotent by key.
        ``actor`` (and ``client``) go into the audit entry: who submitted it."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            if request.key is not None:
                row = conn.execute(
                    "SELECT id, (SELECT COUNT(*) FROM deliveries WHERE alert_id = alerts.id) AS n"
                    " FROM alerts WHERE idempotency_key = ?",
                    (request.key,),
                ).fetchone()
                if row is not None:
                    done = _done_name(now, row["id"], source_name) if source_name else None
                    _audit(
                        conn,
                        now,
                        "duplicate",
                        row["id"],
                        None,
                        {"source": source_name, "key": request.key},
                        actor=actor,
                        client=client,
                    )
                    return Accepted(row["id"], row["n"], True, done)
            alert_id = _next_alert_id(conn, now)
            done_name = _done_name(now, alert_id, source_name) if source_name else None
            comp = request.composition
            conn.execute(
                "INSERT INTO alerts (id, idempotency_key, category, message, advice, text, "
                "encoding, parts, priority, target, issued_by, source_name, source_sha256, "
                "done_name, created_at, expires_at, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active')",
                (
                    alert_id,
                    request.key,
                    request.category,
                    request.message,
                    request.advice,
                    comp.text,
                    comp.encoding.value,
                    comp.part_count,
                    request.priority_rank,
                    json.dumps(
                        {
                            "communes": list(request.target.communes),
                            "sectors": list(request.target.sectors),
                        },
                        ensure_ascii=False,
                    ),
                    request.issued_by,
                    source_name,
                    source_sha256,
                    done_name,
                    now,
                    now + request.expires_after,
                ),
            )
            conn.executemany(
                "INSERT INTO deliveries (alert_id, subscriber_id, phone, state) "
                "VALUES (?, ?, ?, 'queued')",
                [(alert_id, s.id, s.phone) for s in recipients],
            )
            _audit(
                conn,
                now,
                "accepted",
                alert_id,
                None,
                {
                    "issued_by": request.issued_by,
                    "source": source_name,
                    "recipients": len(recipients),
                    "parts": comp.part_count,
                    "encoding": comp.encoding.value,
                    "priority": request.priority,
                },
                actor=actor,
                client=client,
            )
        return Accepted(alert_id, len(recipients), False, done_name)

    def queue_message(
        self,
        conn: sqlite3.Connection,
        phone: str,
        composition: Composition,
        kind: str,
        now: float,
        expires_after: float = 86400.0,
        modem: str | None = None,
    ) -> str:
        """An SMS modemd sends on its own (a reply, a forward to an operator), queued inside
        the caller's transaction for a single recipient. It goes before alerts (priority -1):
        one part, and a STOP confirmation should not wait behind an hour-long fan-out."""
        message_id = _next_alert_id(conn, now, prefix=kind[0])
        conn.execute(
            "INSERT INTO alerts (id, kind, category, message, advice, text, encoding, parts, "
            "priority, target, created_at, expires_at, state) "
            "VALUES (?, ?, 'autre', ?, '', ?, ?, ?, -1, '{}', ?, ?, 'active')",
            (
                message_id,
                kind,
                composition.text,
                composition.text,
                composition.encoding.value,
                composition.part_count,
                now,
                now + expires_after,
            ),
        )
        conn.execute(
            "INSERT INTO deliveries (alert_id, phone, state, modem) VALUES (?, ?, 'queued', ?)",
            (message_id, phone, modem),
        )
        return message_id

    def accepted_from(self, source_sha256: str) -> list[sqlite3.Row]:
        """Alerts accepted from a file with this content (to finish a move a crash split)."""
        return self.db.query(
            "SELECT id, done_name, created_at FROM alerts WHERE source_sha256 = ? "
            "ORDER BY created_at",
            (source_sha256,),
        )

    # ------------------------------------------------------------------------- dispatch
    def claim(
        self, modem: str, now: float, accept: Callable[[Job], bool] | None = None
    ) -> Job | None:
        """The next SMS for ``modem`` (urgent first, then the oldest alert, then member
        order), claimed so no other modem of the pool takes it until ``release``.

        Small indexed queries (the few active alerts, then the first unsent deliveries of
        each) rather than one join sorted over every delivery: this runs before every SMS.
        ``accept`` lets the pool leave a delivery to another modem (its recipient already
        counted on that SIM, a reply pinned to the modem that was texted).

        A cancelled or expired alert still has the messages it had begun (a part already on
        the phone): those are finished, the whole SMS being the unit.
        """
        with self._claims_lock:
            alerts = self.db.query(
                "SELECT id, text, encoding, parts, expires_at, priority, state FROM alerts "
                "WHERE state = 'active' OR id IN (SELECT alert_id FROM deliveries "
                "INDEXED BY deliveries_unsent WHERE state IN ('queued', 'sending')) "
                "ORDER BY priority, created_at"
            )
            for alert in alerts:
                rows = self.db.query(
                    "SELECT id, alert_id, phone, parts_sent, resume, attempts, modem "
                    "FROM deliveries WHERE alert_id = ? AND state IN ('queued', 'sending') "
                    "AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                    (alert["id"], now, CLAIM_SCAN),
                )
                for row in rows:
                    if row["id"] in self._claims:
                        continue
                    if alert["state"] != "active" and not row["parts_sent"]:
                        # Its first part was refused after the alert ended: nothing of it
                        # reached the phone, so it is cancelled like the others.
                        self._drop_unbegun(row["id"], alert["state"])
                        continue
                    job = _job(row, alert)
                    if accept is not None and not accept(job):
                        continue
                    self._claims[job.delivery_id] = modem
                    return job
        return None

    def _drop_unbegun(self, delivery_id: int, alert_state: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE deliveries SET state = 'cancelled', last_error = ? "
                "WHERE id = ? AND state IN ('queued', 'sending') AND parts_sent = 0",
                (alert_state, delivery_id),
            )

    def release(self, job: Job) -> None:
        with self._claims_lock:
            self._claims.pop(job.delivery_id, None)

    def next_retry_at(self) -> float | None:
        row = self.db.one(
            "SELECT MIN(d.next_attempt_at) AS t FROM alerts a JOIN deliveries d "
            "ON d.alert_id = a.id WHERE a.state = 'active' AND d.state IN ('queued', 'sending')"
        )
        return float(row["t"]) if row is not None and row["t"] is not None else None

    def still_wanted(self, delivery_id: int) -> bool:
        """False once the number unsubscribed, or the alert was cancelled or expired before
        any part of this message left (a begun message is finished)."""
        row = self.db.one(
            "SELECT d.state AS d, d.parts_sent, a.state AS a FROM deliveries d JOIN alerts a "
            "ON a.id = d.alert_id WHERE d.id = ?",
            (delivery_id,),
        )
        return (
            row is not None
            and row["d"] in UNSENT
            and (row["a"] == "active" or row["parts_sent"] > 0)
        )

    def _delivery_done(self, conn: sqlite3.Connection, job: Job, now: float) -> None:
        _audit(conn, now, "sent", job.alert_id, job.phone, {"parts": job.parts})
        finish_if_done(conn, job.alert_id, now)

    def _delivery_failed(
        self, conn: sqlite3.Connection, job: Job, error: str, now: float, *, attempt: bool
    ) -> None:
        _mark_failed(conn, job, error, now, attempt=attempt)

    def fail_delivery(self, job: Job, error: str, now: float) -> None:
        """A recipient that can never be served (an invalid number)."""
        with self.db.transaction() as conn:
            _mark_failed(conn, job, error, now, attempt=False)

    # ------------------------------------------------------------------ cancel / expire
    def expire(self, now: float) -> list[tuple[str, int]]:
        """Alerts past their expiry: unsent deliveries cancelled. Returns (id, cancelled)."""
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id FROM alerts WHERE state = 'active' AND expires_at <= ?", (now,)
            ).fetchall()
            result = []
            for row in rows:
                n = _cancel_unsent(conn, row["id"], "expired")
                conn.execute(
                    "UPDATE alerts SET state = 'expired', finished_at = ? WHERE id = ?",
                    (now, row["id"]),
                )
                _audit(conn, now, "expired", row["id"], None, {"cancelled": n})
                result.append((row["id"], n))
        return result

    def cancel(
        self,
        alert_id: str,
        now: float | None = None,
        by: str = "operator",
        client: str | None = None,
    ) -> int:
        """Cancel what is unsent of an alert; returns how many recipients are left out.
        ``by`` is the actor recorded in the audit trail."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id, state FROM alerts WHERE id = ? OR idempotency_key = ?",
                (alert_id, alert_id),
            ).fetchone()
            if row is None:
                raise KeyError(alert_id)
            real = row["id"]
            if row["state"] != "active":
                return 0
            n = _cancel_unsent(conn, real, "cancelled")
            conn.execute(
                "UPDATE alerts SET state = 'cancelled', finished_at = ? WHERE id = ?", (now, real)
            )
            begun = conn.execute(  # begun messages, being finished
                "SELECT COUNT(*) FROM deliveries WHERE alert_id = ? AND state IN ('queued', "
                "'sending')",
                (real,),
            ).fetchone()[0]
            _audit(
                conn,
                now,
                "cancelled",
                real,
                None,
                {"by": by, "cancelled": n, "begun": begun},
                actor=by,
                client=client,
            )
        return n

    def counts(self, alert_id: str) -> tuple[int, int]:
        """(recipients, recipients done with: sent, failed or cancelled)."""
        row = self.db.one(
            "SELECT COUNT(*) AS total, SUM(state NOT IN ('queued', 'sending')) AS done "
            "FROM deliveries WHERE alert_id = ?",
            (alert_id,),
        )
        return (int(row["total"]), int(row["done"] or 0)) if row else (0, 0)

    def urgent_unsent(self) -> tuple[int, int]:
        """(urgent deliveries not yet sent, the most parts one of them has): what decides
        whether overflow channels join."""
        row = self.db.one(
            "SELECT COUNT(*) AS n, MAX(a.parts) AS parts FROM alerts a JOIN deliveries d "
            "ON d.alert_id = a.id WHERE a.state = 'active' AND a.priority = 0 "
            "AND d.state IN ('queued', 'sending')"
        )
        return (int(row["n"]), int(row["parts"] or 1)) if row else (0, 1)

    def send_history(self, modem: str, since: float) -> list[tuple[float, str]]:
        rows = self.db.query(
            "SELECT at, recipient FROM send_log WHERE modem = ? AND at > ? ORDER BY at",
            (modem, since),
        )
        return [(float(r["at"]), str(r["recipient"])) for r in rows]

    def prune_send_log(self, before: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM send_log WHERE at < ?", (before,))


def _job(row: sqlite3.Row, alert: sqlite3.Row) -> Job:
    return Job(
        delivery_id=row["id"],
        alert_id=row["alert_id"],
        phone=row["phone"],
        text=alert["text"],
        encoding=Encoding(alert["encoding"]),
        parts=alert["parts"],
        parts_sent=row["parts_sent"],
        resume=row["resume"],
        attempts=row["attempts"],
        expires_at=alert["expires_at"],
        priority=alert["priority"],
        modem=row["modem"],
    )


def _mark_failed(
    conn: sqlite3.Connection, job: Job, error: str, now: float, *, attempt: bool
) -> None:
    """This recipient will not be served (unless a STOP or a cancel got there first)."""
    conn.execute(
        "UPDATE deliveries SET state = 'failed', attempts = attempts + ?, last_error = ? "
        "WHERE id = ? AND state IN ('queued', 'sending')",
        (int(attempt), error, job.delivery_id),
    )
    _audit(conn, now, "failed", job.alert_id, job.phone, {"error": error})
    finish_if_done(conn, job.alert_id, now)


def _cancel_unsent(conn: sqlite3.Connection, alert_id: str, reason: str) -> int:
    """Cancel the messages not begun. One with a part on the phone, or its first part in
    the modem now, is finished: the whole SMS is the unit, never half of it."""
    cursor = conn.execute(
        "UPDATE deliveries SET state = 'cancelled', last_error = ? "
        "WHERE alert_id = ? AND state = 'queued' AND parts_sent = 0",
        (reason, alert_id),
    )
    return cursor.rowcount


def _next_alert_id(conn: sqlite3.Connection, now: float, prefix: str = "") -> str:
    """Short ids an operator can type: ``YYMMDD-N``, N counting that UTC day's alerts;
    modemd's own messages get a letter in front (``r261129-3`` for a reply)."""
    day = prefix + datetime.fromtimestamp(now, UTC).strftime("%y%m%d")
    row = conn.execute("SELECT COUNT(*) AS n FROM alerts WHERE id LIKE ?", (f"{day}-%",))
    n = int(row.fetchone()["n"]) + 1
    while conn.execute("SELECT 1 FROM alerts WHERE id = ?", (f"{day}-{n}",)).fetchone():
        n += 1
    return f"{day}-{n}"


def _done_name(now: float, alert_id: str, source_name: str | None) -> str:
    return f"{_utc_stamp(now)}_{alert_id}_{source_name}"


def _audit(
    conn: sqlite3.Connection,
    now: float,
    event: str,
    alert_id: str | None,
    phone: str | None,
    detail: dict[str, object],
    actor: str = audit.SYSTEM,
    client: str | None = None,
) -> None:
    audit.record(
        conn,
        now,
        event,
        actor=actor,
        client=client,
        alert_id=alert_id,
        phone=phone,
        detail=detail,
    )
