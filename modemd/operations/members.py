"""Members: import a CSV, add, remove, approve an ADHESION, unsubscribe, export, list.
Each change is recorded in the audit trail with its actor."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from modemd.config import Config
from modemd.inbound.handler import Approval, approve_request, unsubscribe_member
from modemd.members.csv_files import CsvError, ImportReport, export_csv, import_csv
from modemd.members.registry import Details, Registry, Subscriber, fold, subscriber_of
from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound, Problem
from modemd.phone import InvalidNumber, normalize, normalize_mobile
from modemd.store import audit
from modemd.store.db import Database


def phone_number(raw: str, mobile: bool = False) -> str:
    """A number as stored (+33...), or InvalidInput on the ``phone`` field; ``mobile`` for
    a number that is to receive alerts (a landline cannot)."""
    try:
        return normalize_mobile(raw) if mobile else normalize(raw)
    except InvalidNumber as exc:
        raise InvalidInput([Problem("phone", str(exc))]) from None


def _record(db: Database, event: str, actor: Actor, phone: str | None, **detail: object) -> None:
    with db.transaction() as conn:
        audit.record(
            conn,
            time.time(),
            event,
            actor=str(actor),
            client=actor.client,
            phone=phone,
            detail=dict(detail),
        )


@dataclass(frozen=True)
class Imported:
    report: ImportReport
    problems: list[Problem]  # the lines skipped, each with its line number


def import_members(db: Database, path: Path, actor: Actor) -> Imported:
    try:
        report = import_csv(db, path)
    except CsvError as exc:
        raise InvalidInput([Problem("file", str(exc))]) from None
    _record(
        db,
        "members_imported",
        actor,
        None,
        file=path.name,
        added=report.added,
        updated=report.updated,
        skipped=len(report.problems),
    )
    return Imported(report, [Problem(None, text, line) for line, text in report.problems])


def import_members_data(db: Database, data: bytes, name: str, actor: Actor) -> Imported:
    """A CSV given as bytes (an upload, an API body), imported as a file would be."""
    with tempfile.TemporaryDirectory(prefix="modemd-import-") as folder:
        path = Path(folder) / (Path(name).name or "members.csv")
        path.write_bytes(data)
        return import_members(db, path, actor)


@dataclass(frozen=True)
class Added:
    member: Subscriber
    outcome: str  # added, updated, unchanged, kept unsubscribed


def add_member(db: Database, phone: str, details: Details, actor: Actor) -> Added:
    number = phone_number(phone, mobile=True)
    member, outcome = Registry(db).add(
        number, name=details.name, commune=details.commune, sector=details.sector,
        source=actor.kind if actor.kind in ("web", "api") else "cli",
    )
    if outcome != "unchanged":
        _record(db, "member_" + outcome.replace(" ", "_"), actor, number, status=member.status)
    return Added(member, outcome)


def update_member(
    db: Database,
    phone: str,
    *,
    name: str | None = None,
    commune: str | None = None,
    sector: str | None = None,
    actor: Actor,
) -> Added:
    """Change a member's details (those given); its status stays as it is."""
    member = get_member(db, phone)
    updated, outcome = Registry(db).add(
        member.phone,
        name=member.name if name is None else name.strip(),
        commune=member.commune if commune is None else commune.strip(),
        sector=member.sector if sector is None else sector.strip(),
        status=member.status,
        source=actor.kind,
    )
    if outcome != "unchanged":
        _record(db, "member_updated", actor, member.phone, status=updated.status)
    return Added(updated, "unchanged" if outcome == "kept unsubscribed" else outcome)


def remove_member(db: Database, phone: str, actor: Actor) -> str:
    number = phone_number(phone)
    try:
        Registry(db).remove(number)
    except KeyError:
        raise NotFound(f"{number} is not in the members list") from None
    _record(db, "member_removed", actor, number)
    return number


@dataclass(frozen=True)
class Unsubscribed:
    phone: str
    cancelled: int  # unsent SMS to the number, cancelled
    confirmed: bool  # the ``stop`` confirmation is queued (the member was receiving alerts)


def unsubscribe(config: Config, db: Database, phone: str, actor: Actor) -> Unsubscribed:
    number = phone_number(phone)
    try:
        cancelled, confirmed = unsubscribe_member(
            db, config.inbound, number, actor=str(actor), client=actor.client
        )
    except KeyError:
        raise NotFound(f"{number} is not in the members list") from None
    return Unsubscribed(number, cancelled, confirmed)


@dataclass(frozen=True)
class Approved:
    approval: Approval
    missing: tuple[str, ...]  # commune / sector still unknown: targeted alerts miss them


def approve(config: Config, db: Database, phone: str, given: Details, actor: Actor) -> Approved:
    """Accept a pending ADHESION: active, with its details (those not given read from the
    request), and the ``adhesion_accepted`` reply queued."""
    number = phone_number(phone)
    try:
        approval = approve_request(
            db, config.inbound, number, given, actor=str(actor), client=actor.client
        )
    except KeyError:
        raise NotFound(f"{number} is not in the members list") from None
    except ValueError as exc:
        raise InvalidInput([Problem("phone", str(exc))]) from None
    m = approval.member
    return Approved(approval, tuple(f for f in ("commune", "sector") if not getattr(m, f)))


def export_members(db: Database, path: Path, lang: str = "fr") -> int:
    return export_csv(db, path, lang)


def get_member(db: Database, phone: str) -> Subscriber:
    number = phone_number(phone)
    member = Registry(db).get(number)
    if member is None:
        raise NotFound(f"{number} is not in the members list")
    return member


def list_members(db: Database, status: str | None = None) -> list[Subscriber]:
    return Registry(db).list(status)


def member_counts(db: Database) -> dict[str, int]:
    registry = Registry(db)
    return {s: registry.count(s) for s in ("active", "pending", "unsubscribed")}


def reject(db: Database, phone: str, actor: Actor) -> str:
    """Turn down a pending ADHESION: the request is forgotten (no SMS is sent)."""
    number = phone_number(phone)
    member = Registry(db).get(number)
    if member is None:
        raise NotFound(f"{number} is not in the members list")
    if member.status != "pending":
        raise InvalidInput([Problem("phone", f"{number} is {member.status}, not pending")])
    Registry(db).remove(number)
    _record(db, "member_rejected", actor, number)
    return number


def search_members(
    db: Database,
    *,
    status: str | None = None,
    text: str = "",
    commune: str = "",
    sector: str = "",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Subscriber], int]:
    """One page of the members a filter selects (commune and trade matched as targets are,
    ignoring case, accents and hyphens; ``text`` in the number or the name), and how many
    it selects in all."""
    where: list[str] = ["1"]
    params: list[object] = []
    if status:
        where.append("status = ?")
        params.append(status)
    if commune:
        where.append("commune_key = ?")
        params.append(fold(commune))
    if sector:
        where.append("sector_key = ?")
        params.append(fold(sector))
    if text.strip():
        where.append("(phone LIKE ? OR name LIKE ? COLLATE NOCASE)")
        like = f"%{text.strip().replace('%', '').replace('_', '')}%"
        params += [like.replace(" ", ""), like]
    clause = " AND ".join(where)
    total_row = db.one(f"SELECT COUNT(*) AS n FROM subscribers WHERE {clause}", tuple(params))
    rows = db.query(
        f"SELECT * FROM subscribers WHERE {clause} ORDER BY commune_key, name, phone "
        "LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return [subscriber_of(r) for r in rows], int(total_row["n"]) if total_row else 0


@dataclass(frozen=True)
class Choice:
    label: str  # as most members spell it
    members: int  # active members with it


def target_choices(db: Database) -> dict[str, list[Choice]]:
    """The communes and trades active members have: what an alert can target."""
    found: dict[str, list[Choice]] = {}
    for column in ("commune", "sector"):
        rows = db.query(
            f"SELECT {column}_key AS k, {column} AS label, COUNT(*) AS n FROM subscribers "
            f"WHERE status = 'active' AND {column}_key != '' GROUP BY {column}_key, {column} "
            "ORDER BY n DESC"
        )
        seen: dict[str, Choice] = {}
        for r in rows:
            key = str(r["k"])
            if key in seen:  # another spelling of the same commune: counted, not shown
                seen[key] = Choice(seen[key].label, seen[key].members + int(r["n"]))
            else:
                seen[key] = Choice(str(r["label"]), int(r["n"]))
        found[column] = sorted(seen.values(), key=lambda c: fold(c.label))
    return found


@dataclass(frozen=True)
class OptOut:
    phone: str
    at: float
    source: str  # sms | cli | web...
    name: str | None


def optouts(db: Database) -> list[OptOut]:
    rows = db.query(
        "SELECT o.*, s.name FROM optouts o LEFT JOIN subscribers s ON s.phone = o.phone "
        "ORDER BY o.at DESC"
    )
    return [OptOut(str(r["phone"]), float(r["at"]), str(r["source"]), r["name"]) for r in rows]
