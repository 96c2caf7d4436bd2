"""Registered SMS senders: the duty-desk phones that may raise an alert by SMS.

A sender is a number, a name (the actor ``sms:<name>`` of what it does), a PIN kept only as
an Argon2id hash, and optionally the communes, trades and categories it may target. Wrong
PINs and wrong codes count against the sender: three within an hour lock it for an hour
(an administrator can also lock it until unlocked). The PIN is never stored, logged or put
in the audit trail in clear.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass

from modemd.members.registry import fold
from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound, Problem
from modemd.operations.hashing import hasher, matches
from modemd.phone import InvalidNumber, is_alphanumeric_or_short, normalize
from modemd.pipeline.alerts import AlertRequest
from modemd.pipeline.compose import CATEGORIES
from modemd.store import audit
from modemd.store.db import Database

PIN_RULE = re.compile(r"\d{4,12}")
FAILURES_TO_LOCK = 3
FAILURE_WINDOW = 3600.0  # three failures within this lock the sender...
LOCK_SECONDS = 3600.0  # ...for this long


@dataclass(frozen=True)
class Scope:
    """What a sender may target; an empty list allows any."""

    communes: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def refusal(self, request: AlertRequest) -> str | None:
        """Why this alert is outside the scope (in French, for the sender), or None."""
        for mine, asked, mark, plural, singular in (
            (self.communes, request.target.communes, "@", "communes", "commune"),
            (self.sectors, request.target.sectors, "#", "activités", "activité"),
        ):
            if not mine:
                continue
            if not asked:
                return f"précisez les {plural} ({mark}{','.join(mine)})"
            allowed = {fold(value) for value in mine}
            outside = [value for value in asked if fold(value) not in allowed]
            if outside:
                return f"{singular} hors de votre périmètre: {', '.join(outside)}"
        if self.categories and request.category not in self.categories:
            return f"catégorie non autorisée: {request.category}"
        return None

    def describe(self) -> str:
        parts = [
            f"{label} {', '.join(values)}"
            for label, values in (
                ("communes", self.communes),
                ("trades", self.sectors),
                ("categories", self.categories),
            )
            if values
        ]
        return "; ".join(parts) or "anything"


@dataclass(frozen=True)
class Sender:
    id: int
    phone: str
    name: str
    scope: Scope
    locked: bool  # by an administrator, until unlocked
    locked_until: float | None  # by failures, until then

    def locked_at(self, now: float) -> bool:
        return self.locked or (self.locked_until is not None and now < self.locked_until)

    @property
    def actor(self) -> Actor:
        return Actor("sms", self.name)


def hash_pin(pin: str) -> str:
    return hasher.hash(pin)


def add_sender(db: Database, phone: str, name: str, pin: str, scope: Scope, actor: Actor) -> Sender:
    problems: list[Problem] = []
    number = ""
    if is_alphanumeric_or_short(phone):
        problems.append(Problem("phone", f"{phone!r}: a short code or a name cannot be a sender"))
    else:
        try:
            number = normalize(phone)
        except InvalidNumber as exc:
            problems.append(Problem("phone", str(exc)))
    if not name.strip():
        problems.append(Problem("name", "a sender needs a name (its desk: 'CORG Cantal')"))
    if not PIN_RULE.fullmatch(pin):
        problems.append(Problem("pin", "a PIN is 4 to 12 digits (6 or more advised)"))
    unknown = [c for c in scope.categories if c not in CATEGORIES]
    if unknown:
        known = ", ".join(CATEGORIES)
        problems.append(Problem("categories", f"unknown category {unknown[0]!r} (known: {known})"))
    if problems:
        raise InvalidInput(problems)
    now = time.time()
    try:
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO senders (phone, name, pin_hash, communes, sectors, categories, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    number,
                    name.strip(),
                    hash_pin(pin),
                    json.dumps(list(scope.communes), ensure_ascii=False),
                    json.dumps(list(scope.sectors), ensure_ascii=False),
                    json.dumps(list(scope.categories)),
                    now,
                    now,
                ),
            )
            audit.record(
                conn,
                now,
                "sender_added",
                actor=str(actor),
                client=actor.client,
                phone=number,
                detail={"name": name.strip(), "scope": scope.describe()},
            )
    except sqlite3.IntegrityError:
        raise InvalidInput([Problem("phone", f"{number} is already a registered sender")]) from None
    sender = get_sender(db, number)
    assert sender is not None
    return sender


def get_sender(db: Database, phone: str) -> Sender | None:
    try:
        number = normalize(phone)
    except InvalidNumber:
        return None
    row = db.one("SELECT * FROM senders WHERE phone = ?", (number,))
    return _sender(row) if row is not None else None


def list_senders(db: Database) -> list[Sender]:
    return [_sender(r) for r in db.query("SELECT * FROM senders ORDER BY name, phone")]


def remove_sender(db: Database, phone: str, actor: Actor) -> Sender:
    sender = _known(db, phone)
    now = time.time()
    with db.transaction() as conn:
        conn.execute("DELETE FROM senders WHERE id = ?", (sender.id,))
        audit.record(
            conn, now, "sender_removed", actor=str(actor), client=actor.client,
            phone=sender.phone, detail={"name": sender.name},
        )  # fmt: skip
    return sender


def lock_sender(db: Database, phone: str, actor: Actor, locked: bool = True) -> Sender:
    """Lock (until unlocked) or unlock; unlocking also forgets the failures counted."""
    sender = _known(db, phone)
    now = time.time()
    with db.transaction() as conn:
        conn.execute(
            "UPDATE senders SET locked = ?, locked_until = NULL, updated_at = ? WHERE id = ?",
            (int(locked), now, sender.id),
        )
        if not locked:
            conn.execute("DELETE FROM sender_failures WHERE sender_id = ?", (sender.id,))
        audit.record(
            conn, now, "sender_locked" if locked else "sender_unlocked", actor=str(actor),
            client=actor.client, phone=sender.phone, detail={"name": sender.name},
        )  # fmt: skip
    updated = get_sender(db, sender.phone)
    assert updated is not None
    return updated


def pin_matches(db: Database, sender: Sender, pin: str) -> bool:
    row = db.one("SELECT pin_hash FROM senders WHERE id = ?", (sender.id,))
    if row is None:
        return False
    return matches(str(row["pin_hash"]), pin)


def count_failure(conn: sqlite3.Connection, sender: Sender, what: str, now: float) -> bool:
    """A wrong PIN or code, inside the caller's transaction; True if it locks the sender
    now (the third within the hour)."""
    conn.execute(
        "INSERT INTO sender_failures (sender_id, at, what) VALUES (?, ?, ?)",
        (sender.id, now, what),
    )
    row = conn.execute(
        "SELECT COUNT(*) FROM sender_failures WHERE sender_id = ? AND at > ?",
        (sender.id, now - FAILURE_WINDOW),
    ).fetchone()
    if int(row[0]) < FAILURES_TO_LOCK:
        return False
    conn.execute(
        "UPDATE senders SET locked_until = ?, updated_at = ? WHERE id = ?",
        (now + LOCK_SECONDS, now, sender.id),
    )
    # Counted afresh after the lock: three more failures for another hour.
    conn.execute("DELETE FROM sender_failures WHERE sender_id = ?", (sender.id,))
    return True


def _known(db: Database, phone: str) -> Sender:
    sender = get_sender(db, phone)
    if sender is None:
        raise NotFound(f"{phone} is not a registered sender (see modemd senders list)")
    return sender


def _sender(row: sqlite3.Row) -> Sender:
    return Sender(
        id=int(row["id"]),
        phone=str(row["phone"]),
        name=str(row["name"]),
        scope=Scope(
            tuple(json.loads(row["communes"])),
            tuple(json.loads(row["sectors"])),
            tuple(json.loads(row["categories"])),
        ),
        locked=bool(row["locked"]),
        locked_until=row["locked_until"],
    )
