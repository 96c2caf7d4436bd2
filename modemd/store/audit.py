"""The audit trail: who did what, appended inside the transaction of the change it records.

The table is append-only (schema v4 triggers refuse UPDATE and DELETE), and retention never
touches it. ``actor`` is the rendered actor (``cli:<user>``, ``web:<login>``, ``api:<token>``,
``sms:<sender>``, ``system``); ``client`` the address it came from, where there is one.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from modemd.store.db import Database

SYSTEM = "system"


def record(
    conn: sqlite3.Connection,
    now: float,
    event: str,
    *,
    actor: str = SYSTEM,
    client: str | None = None,
    alert_id: str | None = None,
    phone: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO audit (at, event, alert_id, phone, detail, actor, client) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            now,
            event,
            alert_id,
            phone,
            json.dumps(detail or {}, ensure_ascii=False),
            actor,
            client,
        ),
    )


@dataclass(frozen=True)
class Entry:
    id: int
    at: float
    event: str
    actor: str
    client: str | None
    alert_id: str | None
    phone: str | None
    detail: dict[str, Any]


def entries(
    db: Database,
    since: float | None = None,
    actor_prefix: str | None = None,
    limit: int = 0,
    exclude: tuple[str, ...] = (),
) -> list[Entry]:
    """Oldest first; ``actor_prefix`` matches the start of the actor (``cli:``, ``sms:+33``);
    ``exclude``: events left out; ``limit``: only the latest so many."""
    where: list[str] = ["1"]
    params: list[object] = []
    if exclude:
        where.append(f"event NOT IN ({', '.join('?' * len(exclude))})")
        params += list(exclude)
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if actor_prefix:
        where.append("substr(actor, 1, ?) = ?")
        params += [len(actor_prefix), actor_prefix]
    sql = f"SELECT * FROM audit WHERE {' AND '.join(where)} ORDER BY id"
    if limit > 0:
        sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY id"
    return [
        Entry(
            id=int(r["id"]),
            at=float(r["at"]),
            event=str(r["event"]),
            actor=str(r["actor"]),
            client=r["client"],
            alert_id=r["alert_id"],
            phone=r["phone"],
            detail=json.loads(r["detail"]) if r["detail"] else {},
        )
        for r in db.query(sql, tuple(params))
    ]
