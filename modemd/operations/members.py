"""Members: import a CSV, add, remove, approve an ADHESION, unsubscribe, export, list.
Each change is recorded in the audit trail with its actor."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from modemd.config import Config
from modemd.inbound.handler import Approval, approve_request, unsubscribe_member
from modemd.members.csv_files import CsvError, ImportReport, export_csv, import_csv
from modemd.members.registry import Details, Registry, Subscriber
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


@dataclass(frozen=True)
class Added:
    member: Subscriber
    outcome: str  # added, updated, unchanged, kept unsubscribed


def add_member(db: Database, phone: str, details: Details, actor: Actor) -> Added:
    number = phone_number(phone, mobile=True)
    member, outcome = Registry(db).add(
        number, name=details.name, commune=details.commune, sector=details.sector, source="cli"
    )
    if outcome != "unchanged":
        _record(db, "member_" + outcome.replace(" ", "_"), actor, number, status=member.status)
    return Added(member, outcome)


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


def list_members(db: Database, status: str | None = None) -> list[Subscriber]:
    return Registry(db).list(status)


def member_counts(db: Database) -> dict[str, int]:
    registry = Registry(db)
    return {s: registry.count(s) for s in ("active", "pending", "unsubscribed")}
