"""The durable queue: alerts, their deliveries and each part's fate, in SQLite.

Every method is one transaction. The dispatcher's protocol for one part is
``begin_part`` (in flight + counted in the send log) -> AT+CMGS -> ``part_sent`` or
``part_failed``/``part_unknown``; ``recover`` at start turns parts left in flight by a crash
back into queued work, so only those may go twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from modemd.members.registry import Subscriber
from modemd.pipeline.alerts import AlertRequest
from modemd.sms.parts import Composition, Encoding
from modemd.sms.pdu import StatusReport
from modemd.store import audit
from modemd.store.db import Database

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
    concat_ref: int | None
    attempts: int
    expires_at: float
    priority: int
    modem: str | None = None  # pinned to this modem (a reply), or any


def _utc_stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")


class Outbox:
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

    def apply_report(self, modem: str, report: StatusReport, now: float) -> bool:
        """A delivery report for the part with this message reference (the most recent one:
        references wrap at 256). False if no sent part matches yet."""
        with self.db.transaction() as conn:
            # References wrap at 256: take the part sent closest to the time the SMS centre
            # says it received the message, and none more than an hour away from it.
            scts = report.scts.timestamp()
            part = conn.execute(
                "SELECT delivery_id, seq FROM parts WHERE modem = ? AND reference = ? "
                "AND state = 'sent' AND at > ? AND ABS(at - ?) < 3600 "
                "ORDER BY ABS(at - ?) LIMIT 1",
                (modem, report.reference, now - 3 * 86400, scts, scts),
            ).fetchone()
            if part is None:
                return False
            outcome = "delivered" if report.delivered else "failed" if report.failed else "pending"
            conn.execute(
                "UPDATE parts SET report = ? WHERE delivery_id = ? AND seq = ?",
                (outcome, part["delivery_id"], part["seq"]),
            )
            reports = [
                r["report"]
                for r in conn.execute(
                    "SELECT report FROM parts WHERE delivery_id = ?", (part["delivery_id"],)
                )
            ]
            delivery = conn.execute(
                "SELECT a.parts FROM deliveries d JOIN alerts a "
                "ON a.id = d.alert_id WHERE d.id = ?",
                (part["delivery_id"],),
            ).fetchone()
            if "failed" in reports:
                summary = "failed"
            elif reports.count("delivered") >= delivery["parts"]:
                summary = "delivered"
            else:
                summary = "pending"
            conn.execute(
                "UPDATE deliveries SET report = ? WHERE id = ?", (summary, part["delivery_id"])
            )
        return True

    def accepted_from(self, source_sha256: str) -> list[sqlite3.Row]:
        """Alerts accepted from a file with this content (to finish a move a crash split)."""
        return self.db.query(
            "SELECT id, done_name, created_at FROM alerts WHERE source_sha256 = ? "
            "ORDER BY created_at",
            (source_sha256,),
        )

    # ------------------------------------------------------------------------- dispatch
    def recover(self) -> int:
        """Parts left in flight by a crash: not known to be sent, so queued again."""
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT delivery_id FROM parts WHERE state = 'inflight'").fetchall()
            conn.execute("DELETE FROM parts WHERE state = 'inflight'")
            conn.executemany(
                "UPDATE deliveries SET state = 'queued' WHERE id = ? AND state = 'sending'",
                [(r["delivery_id"],) for r in rows],
            )
        return len(rows)

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
                    "SELECT id, alert_id, phone, parts_sent, concat_ref, attempts, modem "
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

    def last_modem(self, job: Job) -> str | None:
        """The modem that sent the parts of this message already out, if any."""
        row = self.db.one(
            "SELECT modem FROM parts WHERE delivery_id = ? AND state = 'sent' "
            "ORDER BY seq DESC LIMIT 1",
            (job.delivery_id,),
        )
        return str(row["modem"]) if row else None

    def restart_message(self, job: Job) -> Job:
        """Send a half-sent message again from its first part, through another modem (its
        first parts came from another number: the phone could not join the rest to them)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM parts WHERE delivery_id = ?", (job.delivery_id,))
            conn.execute(
                "UPDATE deliveries SET parts_sent = 0, concat_ref = NULL WHERE id = ?",
                (job.delivery_id,),
            )
        return replace(job, parts_sent=0, concat_ref=None)

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

    def begin_part(
        self,
        job: Job,
        seq: int,
        modem: str,
        now: float,
        concat_ref: int | None,
        counted_at: float | None = None,
    ) -> int | None:
        """Record a part as in flight and count it for the throttle at ``counted_at`` (the
        latest it may reach the network; ``now`` by default); returns the log row, or None
        when the delivery is no longer wanted (a STOP, a cancel, an expiry committed since
        it was picked): then nothing may be sent."""
        with self.db.transaction() as conn:
            wanted = conn.execute(
                "SELECT 1 FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
                "WHERE d.id = ? AND d.state IN ('queued', 'sending') "
                "AND (a.state = 'active' OR d.parts_sent > 0)",  # a begun message is finished
                (job.delivery_id,),
            ).fetchone()
            if wanted is None:
                return None
            conn.execute(
                "INSERT OR REPLACE INTO parts (delivery_id, seq, state, modem, at) "
                "VALUES (?, ?, 'inflight', ?, ?)",
                (job.delivery_id, seq, modem, now),
            )
            conn.execute(
                "UPDATE deliveries SET state = 'sending', concat_ref = ? WHERE id = ?",
                (concat_ref, job.delivery_id),
            )
            cursor = conn.execute(
                "INSERT INTO send_log (modem, at, recipient) VALUES (?, ?, ?)",
                (modem, now if counted_at is None else counted_at, job.phone),
            )
            return int(cursor.lastrowid or 0)

    def part_sent(
        self, job: Job, seq: int, reference: int | None, now: float, log_id: int | None = None
    ) -> bool:
        """The network took the part; returns True when the whole message is out. A delivery
        cancelled meanwhile (a STOP during the send) stays cancelled. The part's send-log
        row (``log_id``) now counts from ``now``, when it was known to have arrived."""
        done = seq >= job.parts
        with self.db.transaction() as conn:
            if log_id is not None:
                conn.execute("UPDATE send_log SET at = ? WHERE id = ?", (now, log_id))
            conn.execute(
                "UPDATE parts SET state = 'sent', reference = ?, at = ? "
                "WHERE delivery_id = ? AND seq = ?",
                (reference, now, job.delivery_id, seq),
            )
            updated = conn.execute(
                "UPDATE deliveries SET parts_sent = ?, state = ?, sent_at = ?, "
                "report = CASE WHEN ? THEN 'pending' ELSE report END "
                "WHERE id = ? AND state IN ('queued', 'sending')",
                (seq, "sent" if done else "sending", now if done else None, done, job.delivery_id),
            ).rowcount
            done = done and updated > 0
            if done:
                _audit(conn, now, "sent", job.alert_id, job.phone, {"parts": job.parts})
                _finish_if_done(conn, job.alert_id, now)
        return done

    def part_failed(
        self, job: Job, seq: int, log_id: int, error: str, retry_at: float | None, now: float
    ) -> None:
        """The modem refused the part: it never left, so it is not counted. ``retry_at``
        None means the failure is permanent for this recipient."""
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM parts WHERE delivery_id = ? AND seq = ?", (job.delivery_id, seq)
            )
            conn.execute("DELETE FROM send_log WHERE id = ?", (log_id,))
            if retry_at is None:
                _mark_failed(conn, job, error, now, attempt=True)
            else:
                conn.execute(
                    "UPDATE deliveries SET state = 'queued', attempts = attempts + 1, "
                    "last_error = ?, next_attempt_at = ? "
                    "WHERE id = ? AND state IN ('queued', 'sending')",
                    (error, retry_at, job.delivery_id),
                )

    def part_unknown(
        self,
        job: Job,
        seq: int,
        error: str,
        log_id: int | None = None,
        counted_at: float | None = None,
    ) -> None:
        """The link died during AT+CMGS: the part may have left. It stays counted (from
        ``counted_at``, the latest it may have arrived, when given) and is sent again (the
        one duplicate a crash or an unplug may cause)."""
        with self.db.transaction() as conn:
            if log_id is not None and counted_at is not None:
                conn.execute("UPDATE send_log SET at = ? WHERE id = ?", (counted_at, log_id))
            conn.execute(
                "DELETE FROM parts WHERE delivery_id = ? AND seq = ?", (job.delivery_id, seq)
            )
            conn.execute(
                "UPDATE deliveries SET state = 'queued', last_error = ? "
                "WHERE id = ? AND state IN ('queued', 'sending')",
                (error, job.delivery_id),
            )

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
        concat_ref=row["concat_ref"],
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
    _finish_if_done(conn, job.alert_id, now)


def _cancel_unsent(conn: sqlite3.Connection, alert_id: str, reason: str) -> int:
    """Cancel the messages not begun. One with a part on the phone, or its first part in
    the modem now, is finished: the whole SMS is the unit, never half of it."""
    cursor = conn.execute(
        "UPDATE deliveries SET state = 'cancelled', last_error = ? "
        "WHERE alert_id = ? AND state = 'queued' AND parts_sent = 0",
        (reason, alert_id),
    )
    return cursor.rowcount


def _finish_if_done(conn: sqlite3.Connection, alert_id: str, now: float) -> None:
    left = conn.execute(
        "SELECT 1 FROM deliveries WHERE alert_id = ? AND state IN ('queued', 'sending') LIMIT 1",
        (alert_id,),
    ).fetchone()
    if left is None:
        updated = conn.execute(
            "UPDATE alerts SET state = 'done', finished_at = ? WHERE id = ? AND state = 'active'",
            (now, alert_id),
        )
        if updated.rowcount:
            _audit(conn, now, "done", alert_id, None, {})


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
