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

from modemd.phone import normalize, normalize_mobile
from modemd.store.db import Database
from modemd.store.deliveries import cancel_unsent_to

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
    request: str | None = None  # what an ADHESION said, while pending


# Trades a shopkeeper names first in an ADHESION ("Boulangerie Martin, Aurillac"), as the
# sector to record when the registry knows none that fits. Folded key -> sector.
TRADES: dict[str, str] = {
    fold(t): t
    for t in (
        "boulangerie", "pâtisserie", "boulangerie-pâtisserie", "boucherie", "charcuterie",
        "boucherie-charcuterie", "traiteur", "poissonnerie", "fromagerie", "épicerie",
        "supérette", "supermarché", "primeur", "caviste", "tabac", "tabac-presse", "presse",
        "librairie", "papeterie", "bijouterie", "horlogerie", "pharmacie", "parapharmacie",
        "opticien", "optique", "fleuriste", "garage", "station-service", "coiffure", "coiffeur",
        "esthétique", "pressing", "quincaillerie", "bricolage", "droguerie", "cordonnerie",
        "chaussures", "vêtements", "prêt-à-porter", "bar", "café", "restaurant", "brasserie",
        "pizzeria", "hôtel", "banque", "assurance", "agence immobilière", "auto-école",
        "informatique", "téléphonie", "électroménager", "ameublement", "jouets", "animalerie",
        "jardinerie", "bureau de tabac",
    )
}
# "<name>, <commune>" or "<name> - <commune>"
_COMMUNE_AFTER = re.compile(r"^(?P<name>.+?)\s*(?:,|\s-\s)\s*(?P<commune>[^,]+?)\W*$")


@dataclass(frozen=True)
class Details:
    name: str = ""
    commune: str = ""
    sector: str = ""


def guess_details(request: str, communes: list[str], sectors: list[str]) -> Details:
    """Name, commune and trade read from what an ADHESION said, such as "Boulangerie Martin,
    Aurillac": the commune after the last comma (or " - "), or a commune the registry knows
    at the end ("Garage Roux à Murat"); the trade from the first words, a sector the
    registry knows or else a common trade. Known communes and sectors come back spelled as
    the registry has them, so targeting finds the member. What cannot be read stays empty."""
    text = " ".join(request.split()).strip(" .;:")
    known_communes = {fold(c): c for c in communes if c}
    known_sectors = {fold(s): s for s in sectors if s}
    name, commune = text, ""
    split = _COMMUNE_AFTER.match(text)
    if split:
        name, commune = split["name"].strip(), split["commune"].strip()
    else:
        words = text.split()
        for start in range(1, len(words)):  # the longest known commune ending the text
            if fold(" ".join(words[start:])) in known_communes:
                name, commune = " ".join(words[:start]), " ".join(words[start:])
                if fold(words[start - 1]) == "a" and start > 1:  # "... à Murat"
                    name = " ".join(words[: start - 1])
                break
    commune = known_communes.get(fold(commune), commune)
    sector = ""
    words = name.split()
    for end in range(len(words), 0, -1):  # the longest known trade starting the name
        key = fold(" ".join(words[:end]))
        sector = known_sectors.get(key) or TRADES.get(key, "")
        if sector:
            break
    return Details(name.strip(" ,-"), commune, sector)


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
        now: float | None = None,
    ) -> tuple[Subscriber, str]:
        """Insert or update a member; returns it and "added", "updated", "unchanged" or
        "kept unsubscribed" (a number that sent STOP stays unsubscribed)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        number = normalize_mobile(phone)
        with self.db.transaction() as conn:
            outcome = upsert(
                conn,
                number,
                name,
                commune,
                sector,
                status,
                source,
                time.time() if now is None else now,
            )
        found = self.get(number)
        assert found is not None
        return found, outcome

    def get(self, phone: str) -> Subscriber | None:
        row = self.db.one("SELECT * FROM subscribers WHERE phone = ?", (normalize(phone),))
        return subscriber_of(row) if row is not None else None

    def targeted(self, target: Target) -> list[Subscriber]:
        """Active members the target selects, in a stable order."""
        sql = "SELECT * FROM subscribers WHERE status = 'active'"
        params: list[object] = []
        for column, values in (("commune_key", target.communes), ("sector_key", target.sectors)):
            if values:
                keys = sorted({fold(v) for v in values})
                sql += f" AND {column} IN ({', '.join('?' * len(keys))})"
                params += keys
        return [subscriber_of(row) for row in self.db.query(sql + " ORDER BY id", tuple(params))]

    def list(self, status: str | None = None) -> list[Subscriber]:
        if status is None:
            rows = self.db.query("SELECT * FROM subscribers ORDER BY commune_key, name, phone")
        else:
            rows = self.db.query(
                "SELECT * FROM subscribers WHERE status = ? ORDER BY commune_key, name, phone",
                (status,),
            )
        return [subscriber_of(row) for row in rows]

    def approve(
        self,
        phone: str,
        *,
        name: str | None = None,
        commune: str | None = None,
        sector: str | None = None,
        now: float | None = None,
    ) -> Subscriber:
        """A pending request accepted by the CCI (see :meth:`approve_in`)."""
        number = normalize(phone)
        with self.db.transaction() as conn:
            self.approve_in(conn, number, Details(name or "", commune or "", sector or ""), now)
        found = self.get(number)
        assert found is not None
        return found

    def approve_in(
        self, conn: sqlite3.Connection, number: str, given: Details, now: float | None = None
    ) -> Details:
        """Inside the caller's transaction: the pending member becomes active, with the
        details given, else those it has, else those read from its request. Returns them."""
        now = time.time() if now is None else now
        row = conn.execute("SELECT * FROM subscribers WHERE phone = ?", (number,)).fetchone()
        if row is None:
            raise KeyError(number)
        if row["status"] != "pending":
            raise ValueError(f"{number} is {row['status']}, not pending")
        known = {
            column: [
                r[0]
                for r in conn.execute(
                    f"SELECT {column} FROM subscribers WHERE {column} != '' "
                    f"GROUP BY {column} ORDER BY COUNT(*) DESC"
                )
            ]
            for column in ("commune", "sector")
        }
        guessed = guess_details(row["request_text"] or "", known["commune"], known["sector"])
        details = Details(
            given.name or row["name"] or guessed.name,
            given.commune or row["commune"] or guessed.commune,
            given.sector or row["sector"] or guessed.sector,
        )
        conn.execute(
            "UPDATE subscribers SET status = 'active', consent_source = 'approval', "
            "consent_at = ?, name = ?, commune = ?, sector = ?, commune_key = ?, "
            "sector_key = ?, updated_at = ? WHERE phone = ?",
            (
                now,
                details.name,
                details.commune,
                details.sector,
                fold(details.commune),
                fold(details.sector),
                now,
                number,
            ),
        )
        return details

    def remove(self, phone: str) -> None:
        """Forget a member (the CCI's decision). An opt-out record, if any, is kept."""
        number = normalize(phone)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT id FROM subscribers WHERE phone = ?", (number,)).fetchone()
            if row is None:
                raise KeyError(number)
            cancel_unsent_to(conn, number, "removed", time.time())
            conn.execute(
                "UPDATE deliveries SET subscriber_id = NULL WHERE subscriber_id = ?", (row["id"],)
            )
            conn.execute("DELETE FROM subscribers WHERE id = ?", (row["id"],))

    def unsubscribe(self, conn: sqlite3.Connection, number: str, source: str, now: float) -> int:
        """STOP, inside the caller's transaction: status, opt-out record, and every unsent
        SMS to that number cancelled. Returns how many were cancelled."""
        conn.execute(
            "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?, "
            "updated_at = ? WHERE phone = ?",
            (now, now, number),
        )
        conn.execute(
            "INSERT INTO optouts (phone, at, source) VALUES (?, ?, ?) "
            "ON CONFLICT (phone) DO UPDATE SET at = excluded.at, source = excluded.source",
            (number, now, source),
        )
        return cancel_unsent_to(conn, number, "unsubscribed", now)

    def request_join(
        self, conn: sqlite3.Connection, number: str, details: str, auto_approve: bool, now: float
    ) -> str:
        """ADHESION, inside the caller's transaction. Returns what happened: pending,
        accepted, resubscribed, already_active or already_pending."""
        row = conn.execute("SELECT status FROM subscribers WHERE phone = ?", (number,)).fetchone()
        opted_out = conn.execute("SELECT 1 FROM optouts WHERE phone = ?", (number,)).fetchone()
        if row is not None and row["status"] == "active":
            return "already_active"
        if (row is not None and row["status"] == "unsubscribed") or (row is None and opted_out):
            # A former member coming back: consent given again, by SMS.
            conn.execute("DELETE FROM optouts WHERE phone = ?", (number,))
            if row is None:
                upsert(conn, number, "", "", "", "active", "sms", now)
            conn.execute(
                "UPDATE subscribers SET status = 'active', consent_source = 'sms', "
                "consent_at = ?, unsubscribed_at = NULL, updated_at = ? WHERE phone = ?",
                (now, now, number),
            )
            return "resubscribed"
        if auto_approve:
            if row is None:
                upsert(conn, number, "", "", "", "active", "sms", now)
            conn.execute(
                "UPDATE subscribers SET status = 'active', consent_source = 'sms', "
                "consent_at = ?, request_text = ?, requested_at = ?, updated_at = ? "
                "WHERE phone = ?",
                (now, details, now, now, number),
            )
            return "accepted"
        if row is None:
            upsert(conn, number, "", "", "", "pending", "sms", now)
        conn.execute(
            "UPDATE subscribers SET request_text = ?, requested_at = ?, updated_at = ? "
            "WHERE phone = ?",
            (details, now, now, number),
        )
        return "already_pending" if row is not None else "pending"

    def count(self, status: str = "active") -> int:
        row = self.db.one("SELECT COUNT(*) AS n FROM subscribers WHERE status = ?", (status,))
        return int(row["n"]) if row else 0


def upsert(
    conn: sqlite3.Connection,
    number: str,
    name: str,
    commune: str,
    sector: str,
    status: str,
    source: str,
    now: float,
) -> str:
    """Insert or update one member inside a transaction; an opt-out always wins. Returns
    "added", "updated", "unchanged" or "kept unsubscribed"."""
    row = conn.execute(
        "SELECT name, commune, sector, status FROM subscribers WHERE phone = ?", (number,)
    ).fetchone()
    opted_out = conn.execute("SELECT 1 FROM optouts WHERE phone = ?", (number,)).fetchone()
    current = row["status"] if row is not None else None
    if opted_out is not None or current == "unsubscribed":
        status, outcome = "unsubscribed", "kept unsubscribed"
    elif row is None:
        outcome = "added"
    elif (row["name"], row["commune"], row["sector"], current) == (name, commune, sector, status):
        return "unchanged"
    else:
        outcome = "updated"
    if row is None:
        conn.execute(
            "INSERT INTO subscribers (phone, name, commune, sector, commune_key, sector_key, "
            "status, consent_source, consent_at, created_at, updated_at) "
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
                None if status == "unsubscribed" else now,
                now,
                now,
            ),
        )
        return outcome
    if (row["name"], row["commune"], row["sector"], current) != (name, commune, sector, status):
        conn.execute(
            "UPDATE subscribers SET name = ?, commune = ?, sector = ?, commune_key = ?, "
            "sector_key = ?, status = ?, updated_at = ? WHERE phone = ?",
            (name, commune, sector, fold(commune), fold(sector), status, now, number),
        )
    if status == "unsubscribed" and current != "unsubscribed":
        # Marked as having left in the CCI's list: nothing queued goes to them either.
        cancel_unsent_to(conn, number, "unsubscribed", now)
    return outcome


def subscriber_of(row: sqlite3.Row) -> Subscriber:
    return Subscriber(
        id=row["id"],
        phone=row["phone"],
        name=row["name"],
        commune=row["commune"],
        sector=row["sector"],
        status=row["status"],
        request=row["request_text"],
    )
