"""Inbound SMS that are not keywords (a shopkeeper's report, a question): the console's
*Réponses*, newest first, each marked handled by whom once an operator has dealt with it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from modemd.operations.actor import Actor
from modemd.operations.errors import NotFound
from modemd.store import audit
from modemd.store.db import Database


@dataclass(frozen=True)
class Reply:
    id: int
    at: float
    phone: str
    name: str | None  # the member's name, when the number is a member's
    text: str | None  # None once purged by retention
    handled_by: str | None
    handled_at: float | None


def list_replies(db: Database, limit: int = 200) -> list[Reply]:
    rows = db.query(
        "SELECT i.*, s.name FROM inbound i LEFT JOIN subscribers s ON s.phone = i.phone "
        "WHERE i.kind = 'other' ORDER BY i.at DESC, i.id DESC LIMIT ?",
        (limit,),
    )
    return [
        Reply(
            int(r["id"]), float(r["at"]), str(r["phone"]), r["name"], r["text"],
            r["handled_by"], r["handled_at"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Received:
    """One inbound SMS of any kind (stop, join, help, other, report), oldest id first."""

    id: int
    at: float
    phone: str
    name: str | None
    kind: str
    text: str | None
    handled_by: str | None
    handled_at: float | None


# Commands from registered senders are theirs and the desk's, not members' replies.
NOT_REPLIES = ("command",)


def list_inbound(
    db: Database, *, after: int = 0, kind: str | None = None, limit: int = 100
) -> list[Received]:
    """Inbound SMS with an id above ``after`` (a reader's cursor), oldest first."""
    where = ["i.id > ?", f"i.kind NOT IN ({', '.join('?' * len(NOT_REPLIES))})"]
    params: list[object] = [after, *NOT_REPLIES]
    if kind:
        where.append("i.kind = ?")
        params.append(kind)
    rows = db.query(
        "SELECT i.*, s.name FROM inbound i LEFT JOIN subscribers s ON s.phone = i.phone "
        f"WHERE {' AND '.join(where)} ORDER BY i.id LIMIT ?",
        (*params, limit),
    )
    return [
        Received(
            int(r["id"]), float(r["at"]), str(r["phone"]), r["name"], str(r["kind"]), r["text"],
            r["handled_by"], r["handled_at"],
        )
        for r in rows
    ]


def mark_handled(db: Database, reply_id: int, actor: Actor) -> None:
    now = time.time()
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT phone FROM inbound WHERE id = ? AND kind = 'other'", (reply_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no reply {reply_id}")
        conn.execute(
            "UPDATE inbound SET handled_by = ?, handled_at = ? WHERE id = ? "
            "AND handled_by IS NULL",
            (str(actor), now, reply_id),
        )
        audit.record(
            conn, now, "reply_handled", actor=str(actor), client=actor.client,
            phone=row["phone"], detail={"reply": reply_id},
        )
