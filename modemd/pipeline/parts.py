"""Each part's fate in the store: the journal the dispatcher keeps around every part it sends,
and the delivery receipts matched back to those parts.

The protocol for one part is ``begin_part`` (in flight + counted in the send log) -> the
channel sends it -> ``part_sent`` (with the channel's message id, text) or
``part_failed``/``part_unknown``; ``recover`` at start turns parts left in flight by a crash
back into queued work, so only those may go twice. Nothing here knows what carried a part:
a message id is the channel's own text, ``resume`` the channel's own note on a half-sent
message (a modem's concatenation reference).
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import TYPE_CHECKING

from modemd.channels.base import Receipt
from modemd.store import audit
from modemd.store.db import Database

if TYPE_CHECKING:
    from modemd.pipeline.outbox import Job

# Ids may be reused by a channel (a modem's wrap at 256): a receipt goes to the part sent
# closest to the time the far end says it took the message, and none further than this.
RECEIPT_MATCH_WINDOW = 3600.0
RECEIPT_LOOKBACK = 3 * 86400.0


class PartRecords:
    """The outbox's part journal (a mixin: the outbox owns the alerts and the audit)."""

    db: Database

    # The outbox's say on what a finished or failed delivery means for its alert.
    def _delivery_done(self, conn: sqlite3.Connection, job: Job, now: float) -> None:
        raise NotImplementedError

    def _delivery_failed(
        self, conn: sqlite3.Connection, job: Job, error: str, now: float, *, attempt: bool
    ) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------------- crash-safety
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

    def last_modem(self, job: Job) -> str | None:
        """The channel that sent the parts of this message already out, if any."""
        row = self.db.one(
            "SELECT modem FROM parts WHERE delivery_id = ? AND state = 'sent' "
            "ORDER BY seq DESC LIMIT 1",
            (job.delivery_id,),
        )
        return str(row["modem"]) if row else None

    def restart_message(self, job: Job) -> Job:
        """Send a half-sent message again from its first part, through another channel (its
        first parts came from another number: the phone could not join the rest to them)."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM parts WHERE delivery_id = ?", (job.delivery_id,))
            conn.execute(
                "UPDATE deliveries SET parts_sent = 0, resume = NULL WHERE id = ?",
                (job.delivery_id,),
            )
        return replace(job, parts_sent=0, resume=None)

    # ---------------------------------------------------------------------------- journal
    def begin_part(
        self,
        job: Job,
        seq: int,
        modem: str,
        now: float,
        resume: str | None,
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
                "UPDATE deliveries SET state = 'sending', resume = ? WHERE id = ?",
                (resume, job.delivery_id),
            )
            cursor = conn.execute(
                "INSERT INTO send_log (modem, at, recipient) VALUES (?, ?, ?)",
                (modem, now if counted_at is None else counted_at, job.phone),
            )
            return int(cursor.lastrowid or 0)

    def part_sent(
        self, job: Job, seq: int, message_id: str | None, now: float, log_id: int | None = None
    ) -> bool:
        """The network took the part; returns True when the whole message is out. A delivery
        cancelled meanwhile (a STOP during the send) stays cancelled. The part's send-log
        row (``log_id``) now counts from ``now``, when it was known to have arrived."""
        done = seq >= job.parts
        with self.db.transaction() as conn:
            if log_id is not None:
                conn.execute("UPDATE send_log SET at = ? WHERE id = ?", (now, log_id))
            conn.execute(
                "UPDATE parts SET state = 'sent', message_id = ?, at = ? "
                "WHERE delivery_id = ? AND seq = ?",
                (message_id, now, job.delivery_id, seq),
            )
            updated = conn.execute(
                "UPDATE deliveries SET parts_sent = ?, state = ?, sent_at = ?, "
                "report = CASE WHEN ? THEN 'pending' ELSE report END "
                "WHERE id = ? AND state IN ('queued', 'sending')",
                (seq, "sent" if done else "sending", now if done else None, done, job.delivery_id),
            ).rowcount
            done = done and updated > 0
            if done:
                self._delivery_done(conn, job, now)
        return done

    def part_failed(
        self,
        job: Job,
        seq: int,
        log_id: int | None,
        error: str,
        retry_at: float | None,
        now: float,
        *,
        attempt: bool = True,
    ) -> None:
        """The channel refused the part: it never left, so it is not counted. ``retry_at``
        None means the failure is permanent for this recipient; ``attempt`` False when the
        far end only asked us to slow down (it costs the recipient no attempt)."""
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM parts WHERE delivery_id = ? AND seq = ?", (job.delivery_id, seq)
            )
            conn.execute("DELETE FROM send_log WHERE id = ?", (log_id,))
            if retry_at is None:
                self._delivery_failed(conn, job, error, now, attempt=True)
            else:
                conn.execute(
                    "UPDATE deliveries SET state = 'queued', attempts = attempts + ?, "
                    "last_error = ?, next_attempt_at = ? "
                    "WHERE id = ? AND state IN ('queued', 'sending')",
                    (int(attempt), error, retry_at, job.delivery_id),
                )

    def part_unknown(
        self,
        job: Job,
        seq: int,
        error: str,
        log_id: int | None = None,
        counted_at: float | None = None,
    ) -> None:
        """The link died during the send: the part may have left. It stays counted (from
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

    # --------------------------------------------------------------------------- receipts
    def apply_receipt(self, receipt: Receipt, now: float) -> bool:
        """A delivery receipt for the part the channel sent under this message id. Ids may be
        reused: the part sent closest to the receipt's submission time, within an hour of
        it, is the one. False if no sent part matches yet."""
        with self.db.transaction() as conn:
            at = receipt.submitted_at
            part = conn.execute(
                "SELECT delivery_id, seq FROM parts WHERE modem = ? AND message_id = ? "
                "AND state = 'sent' AND at > ? AND ABS(at - ?) < ? "
                "ORDER BY ABS(at - ?) LIMIT 1",
                (
                    receipt.channel,
                    receipt.message_id,
                    now - RECEIPT_LOOKBACK,
                    at,
                    RECEIPT_MATCH_WINDOW,
                    at,
                ),
            ).fetchone()
            if part is None:
                return False
            conn.execute(
                "UPDATE parts SET report = ? WHERE delivery_id = ? AND seq = ?",
                (receipt.state, part["delivery_id"], part["seq"]),
            )
            reports = [
                r["report"]
                for r in conn.execute(
                    "SELECT report FROM parts WHERE delivery_id = ?", (part["delivery_id"],)
                )
            ]
            delivery = conn.execute(
                "SELECT a.parts, d.report, d.alert_id, d.phone FROM deliveries d JOIN alerts a "
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
            if summary != "pending" and summary != delivery["report"]:
                # The recipient's final word, in the trail like its "sent" (webhooks read it).
                audit.record(
                    conn, now, "report", alert_id=delivery["alert_id"], phone=delivery["phone"],
                    detail={"report": summary},
                )
        return True
