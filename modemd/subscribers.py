"""The member registry: who gets alerts, and who a target selects.

Communes and trades are matched on a folded key (case, accents, hyphens, apostrophes and
spaces ignored), so ``Arpajon-sur-Cère`` in an alert finds ``arpajon sur cere`` in the CSV.
"""

from __future__ import annotations

import re
import sqlite3
import time
import unicodedata
from dataclasses import dataclass

from modemd.phone import normalize
from modemd.store.db import Database

STATUSES = ("active", "pending", "unsubscribed")


def fold(text: str) -> str:
    """``Arpajon-sur-Cère`` -> ``arpajon sur cere``; ``Saint-Flour`` = ``St Flour`` is not
    attempted (abbreviations are for the CCI's list to settle)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = bare.replace("œ", "oe").replace("æ", "ae")
    return re.sub(r"[\s\-'’_.,/]+", " ", bare).strip()


@dataclass(frozen=True)
class Target:
    """Communes and sectors an alert is for; empty lists mean "any"."""

    communes: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()

    @property
    def everyone(self) -> bool:
        return not self.communes and not self.sectors

    def describe(self) -> str:
        if self.everyone:
            return "every active member"
        parts = []
        if self.communes:
            parts.append("communes " + ", ".join(self.communes))
        if self.sectors:
            parts.append("sectors " + ", ".join(self.sectors))
        return " and ".join(parts)


@dataclass(frozen=True)
class Subscriber:
    id: int
    phone: str
    name: str
    commune: str
    sector: str
    status: str


class Registry:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        phone: str,
        *,
        name: str = "",
        commune: str = "",
        sector: str = "",
        status: str = "active",
        source: str = "cli",
    ) -> Subscriber:
        """Insert or update a member. A number that sent STOP stays unsubscribed."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        number = normalize(phone)
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT status FROM subscribers WHERE phone = ?", (number,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO subscribers (phone, name, commune, sector, commune_key, "
                    "sector_key, status, consent_source, consent_at, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        number,
                        name,
                        commune,
                        sector,
                        fold(commune),
                        fold(sector),
                        status,
                        source,
                        now,
                        now,
                        now,
                    ),
                )
            else:
                keep = row["status"] if row["status"] == "unsubscribed" else status
                conn.execute(
                    "UPDATE subscribers SET name = ?, commune = ?, sector = ?, commune_key = ?, "
                    "sector_key = ?, status = ?, updated_at = ? WHERE phone = ?",
                    (name, commune, sector, fold(commune), fold(sector), keep, now, number),
                )
        found = self.get(number)
        assert found is not None
        return found

    def get(self, phone: str) -> Subscriber | None:
        row = self.db.one("SELECT * FROM subscribers WHERE phone = ?", (normalize(phone),))
        return _subscriber(row) if row is not None else None

    def targeted(self, target: Target) -> list[Subscriber]:
        """Active members the target selects, in a stable order."""
        sql = "SELECT * FROM subscribers WHERE status = 'active'"
        params: list[object] = []
        for column, values in (("commune_key", target.communes), ("sector_key", target.sectors)):
            if values:
                keys = sorted({fold(v) for v in values})
                sql += f" AND {column} IN ({', '.join('?' * len(keys))})"
                params += keys
        return [_subscriber(row) for row in self.db.query(sql + " ORDER BY id", tuple(params))]

    def count(self, status: str = "active") -> int:
        row = self.db.one("SELECT COUNT(*) AS n FROM subscribers WHERE status = ?", (status,))
        return int(row["n"]) if row else 0


def _subscriber(row: sqlite3.Row) -> Subscriber:
    return Subscriber(
        id=row["id"],
        phone=row["phone"],
        name=row["name"],
        commune=row["commune"],
        sector=row["sector"],
        status=row["status"],
    )
