"""Alerts raised by SMS from a registered number, and their confirmation by a one-time code.

``ALERTE <PIN> ...`` from a registered number with the right PIN gives a preview and a code,
sent to that registered number only; ``OUI <code>`` from the same number within
``sms_commands.confirm_minutes`` sends the alert. A forged sender (who can make an SMS look
as if it came from the registered number, but cannot read what is sent to it) never sees the
code, so it cannot send. A cancellation goes the same way: a forged ``ANNULER`` would
otherwise stop an alert on its way. A code is single-use and bound to its one request; a
sender has one request waiting at a time; wrong PINs and codes count (``senders``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from modemd.config import Config
from modemd.operations.alerts import (
    AlertCheck,
    Cancelled,
    Submitted,
    alert_from_mapping,
    cancel_alert,
    check_alert,
    submit_alert,
)
from modemd.operations.queries import Progress, progress
from modemd.operations.senders import Sender, count_failure, pin_matches
from modemd.phone import normalize
from modemd.pipeline.outbox import Outbox
from modemd.sms.parts import compose
from modemd.store import audit
from modemd.store.db import Database

DAY = 86400.0
ANSWER = "answer"  # the outbox kind of what modemd answers a registered sender


class Refused(Exception):
    """The command is not carried out; ``reason`` is for the sender, ``locked`` says the
    sender has just been locked by this failure."""

    def __init__(self, reason: str, locked: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.locked = locked


@dataclass(frozen=True)
class Preview:
    code: str
    check: AlertCheck
    replaced: bool  # an earlier request waiting for its code was dropped for this one


@dataclass(frozen=True)
class CancelPreview:
    code: str
    progress: Progress


@dataclass(frozen=True)
class Confirmed:
    action: str  # send | cancel
    submitted: Submitted | None = None
    cancelled: Cancelled | None = None
    again: bool = False  # the same OUI a second time (a modem that delivered it twice)
    alert_id: str | None = None  # with again: the alert it sent or cancelled


def check_pin(db: Database, sender: Sender, pin: str, now: float) -> None:
    """Refused (and counted) unless the PIN is the sender's."""
    if pin_matches(db, sender, pin):
        return
    _failure(db, sender, "pin", now, "PIN incorrect")


def request_alert(
    config: Config, db: Database, sender: Sender, fields: dict[str, Any], now: float
) -> Preview:
    """The alert checked (InvalidInput, as for a file) and within the sender's scope
    (Refused); stored with a new code, replacing any request still waiting."""
    request = alert_from_mapping(fields, config)
    refusal = sender.scope.refusal(request)
    if refusal is not None:
        raise Refused(refusal)
    check = check_alert(config, db, request)
    code, replaced = _new_request(
        db, sender, "send", fields, check.recipients, config, now,
        {"recipients": check.recipients, "parts": request.composition.part_count,
         "message": request.message},
    )  # fmt: skip
    return Preview(code, check, replaced)


def request_cancel(
    config: Config, db: Database, sender: Sender, alert_id: str, now: float
) -> CancelPreview:
    found = progress(db, alert_id=alert_id, limit=1)
    if not found:
        raise Refused(f"alerte {alert_id} inconnue")
    if found[0].state != "active":
        raise Refused(f"alerte {found[0].alert_id} déjà terminée ({found[0].state})")
    code, _ = _new_request(
        db, sender, "cancel", {"alert_id": found[0].alert_id}, found[0].unsent, config, now,
        {"alert_id": found[0].alert_id},
    )  # fmt: skip
    return CancelPreview(code, found[0])


def confirm(config: Config, db: Database, sender: Sender, code: str, now: float) -> Confirmed:
    """Carry out the request waiting for this code (Refused: none, expired, wrong code)."""
    row = db.one(
        "SELECT * FROM sms_requests WHERE sender_id = ? ORDER BY id DESC LIMIT 1", (sender.id,)
    )
    if row is None or row["state"] not in ("pending", "done"):
        raise Refused("aucune alerte en attente de confirmation")
    matches = hmac.compare_digest(_digest(str(row["code_salt"]), code), str(row["code_hash"]))
    if row["state"] == "done":
        if matches and now < float(row["expires_at"]):
            return Confirmed(str(row["action"]), again=True, alert_id=row["alert_id"])
        raise Refused("aucune alerte en attente de confirmation")
    if now >= float(row["expires_at"]):
        with db.transaction() as conn:
            conn.execute("UPDATE sms_requests SET state = 'abandoned' WHERE id = ?", (row["id"],))
            _record(conn, now, "sms_request_expired", sender, {"action": row["action"]})
        raise Refused("code expiré, rien n'a été envoyé")
    if not matches:
        _failure(db, sender, "code", now, "code incorrect")
    fields = json.loads(row["fields"])
    if row["action"] == "send":
        # The request's own id as the alert's: an OUI handled twice (a crash before the
        # modem deleted it) is one alert.
        request = alert_from_mapping({**fields, "id": f"sms-{row['id']}"}, config)
        submitted = submit_alert(config, db, request, sender.actor)
        _done(db, int(row["id"]), submitted.alert_id, sender, now, "sms_request_confirmed")
        return Confirmed("send", submitted=submitted)
    cancelled = cancel_alert(db, str(fields["alert_id"]), sender.actor)
    _done(db, int(row["id"]), cancelled.alert_id, sender, now, "sms_request_confirmed")
    return Confirmed("cancel", cancelled=cancelled)


def abandon(db: Database, sender: Sender, now: float) -> bool:
    """NON: the request waiting is dropped; False if there was none."""
    with db.transaction() as conn:
        dropped = conn.execute(
            "UPDATE sms_requests SET state = 'abandoned' WHERE sender_id = ? AND state = 'pending'",
            (sender.id,),
        ).rowcount
        if dropped:
            _record(conn, now, "sms_request_abandoned", sender, {})
    return bool(dropped)


def last_alert(db: Database, sender: Sender) -> str | None:
    row = db.one(
        "SELECT alert_id FROM sms_requests WHERE sender_id = ? AND action = 'send' AND "
        "alert_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        (sender.id,),
    )
    return str(row["alert_id"]) if row is not None else None


def finished_alerts(db: Database, now: float) -> list[tuple[str, Progress]]:
    """Alerts sent by SMS that have ended and whose sender was not told yet: (sender's
    number, progress), each marked told (the answer is queued by the caller right away)."""
    out: list[tuple[str, Progress]] = []
    rows = db.query(
        "SELECT r.id, r.alert_id, s.phone FROM sms_requests r "
        "JOIN senders s ON s.id = r.sender_id JOIN alerts a ON a.id = r.alert_id "
        "WHERE r.action = 'send' AND r.state = 'done' AND r.reported_at IS NULL "
        "AND a.state != 'active'"
    )
    for row in rows:
        found = progress(db, alert_id=str(row["alert_id"]), limit=1)
        with db.transaction() as conn:
            conn.execute("UPDATE sms_requests SET reported_at = ? WHERE id = ?", (now, row["id"]))
        if found:
            out.append((str(row["phone"]), found[0]))
    return out


def answer(
    config: Config, db: Database, number: str, text: str, via: str | None, now: float
) -> bool:
    """Queue modemd's answer to a registered sender, within its daily limit (a flood of
    forged commands must not make modemd spam the genuine phone); False if over it."""
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM alerts a JOIN deliveries d ON d.alert_id = a.id "
            "WHERE a.kind = ? AND d.phone = ? AND a.created_at > ?",
            (ANSWER, number, now - DAY),
        ).fetchone()
        if int(row[0]) >= config.sms_commands.reply_limit_per_day:
            return False
        Outbox(db).queue_message(conn, number, compose(text), ANSWER, now, modem=via)
    return True


def tell_operators(config: Config, db: Database, text: str, now: float) -> int:
    """A message for the people on duty (inbound.operator_numbers)."""
    with db.transaction() as conn:
        for number in config.inbound.operator_numbers:
            Outbox(db).queue_message(conn, normalize(number), compose(text), "forward", now)
    return len(config.inbound.operator_numbers)


def _new_request(
    db: Database,
    sender: Sender,
    action: str,
    fields: dict[str, Any],
    recipients: int,
    config: Config,
    now: float,
    detail: dict[str, object],
) -> tuple[str, bool]:
    code = f"{secrets.randbelow(10_000):04d}"
    salt = secrets.token_hex(16)
    with db.transaction() as conn:
        replaced = conn.execute(
            "UPDATE sms_requests SET state = 'replaced' WHERE sender_id = ? AND state = 'pending'",
            (sender.id,),
        ).rowcount
        conn.execute(
            "INSERT INTO sms_requests (sender_id, action, fields, recipients, code_salt, "
            "code_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sender.id,
                action,
                json.dumps(fields, ensure_ascii=False),
                recipients,
                salt,
                _digest(salt, code),
                now,
                now + config.sms_commands.confirm_minutes * 60,
            ),
        )
        _record(conn, now, f"sms_{action}_requested", sender, detail)
    return code, bool(replaced)


def _failure(db: Database, sender: Sender, what: str, now: float, reason: str) -> None:
    with db.transaction() as conn:
        locked = count_failure(conn, sender, what, now)
        _record(conn, now, f"sms_{what}_refused", sender, {"locked": locked})
        if locked:
            audit.record(
                conn, now, "sender_locked", phone=sender.phone,
                detail={"name": sender.name, "why": "3 wrong PINs or codes within an hour"},
            )  # fmt: skip
    raise Refused(reason, locked=locked)


def _done(db: Database, request_id: int, alert_id: str, sender: Sender, now: float,
          event: str) -> None:  # fmt: skip
    with db.transaction() as conn:
        conn.execute(
            "UPDATE sms_requests SET state = 'done', alert_id = ? WHERE id = ?",
            (alert_id, request_id),
        )
        _record(conn, now, event, sender, {"alert_id": alert_id})


def _record(
    conn: sqlite3.Connection, now: float, event: str, sender: Sender, detail: dict[str, object]
) -> None:
    audit.record(
        conn, now, event, actor=str(sender.actor), phone=sender.phone,
        alert_id=str(detail["alert_id"]) if "alert_id" in detail else None, detail=detail,
    )  # fmt: skip


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()
