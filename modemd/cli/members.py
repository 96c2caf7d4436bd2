"""``modemd subscribers ...``: the members operations, printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from modemd.cli.common import UsageError, database, usage
from modemd.config import Config
from modemd.members.registry import Details
from modemd.operations import members as ops
from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound
from modemd.store.db import Database


def subscribers(config: Config, action: str, args: dict[str, Any]) -> int:
    actor = Actor.cli()
    with database(config) as db:
        try:
            if action == "import":
                return _import(db, Path(args["file"]), args["json"], actor)
            if action == "export":
                count = ops.export_members(db, Path(args["file"]), args.get("lang") or "fr")
                print(f"{count} member(s) written to {args['file']}")
                return 0
            if action == "list":
                return _list(db, args["status"], args["json"])
            phone = ops.phone_number(args["phone"])
            given = Details(args["name"] or "", args["commune"] or "", args["sector"] or "")
            if action == "add":
                added = ops.add_member(db, phone, given, actor)
                print(f"{added.member.phone} {added.outcome} ({added.member.status})")
            elif action == "remove":
                ops.remove_member(db, phone, actor)
                print(f"{phone} removed (an opt-out record, if any, is kept)")
            elif action == "unsubscribe":
                done = ops.unsubscribe(config, db, phone, actor)
                told = "; confirmation SMS queued: modemd run sends it" if done.confirmed else ""
                print(f"{phone} unsubscribed, {done.cancelled} unsent SMS cancelled{told}")
            else:
                _approve(config, db, phone, given, actor)
        except NotFound as exc:
            raise UsageError(exc.what) from None
        except InvalidInput as exc:
            raise usage(exc) from None
        return 0


def _approve(config: Config, db: Database, phone: str, given: Details, actor: Actor) -> None:
    approved = ops.approve(config, db, phone, given, actor)
    approval = approved.approval
    m = approval.member
    described = ", ".join(
        f"{field} {getattr(m, field)!r}" for field in ("name", "commune", "sector")
    )
    guessed = f" ({', '.join(approval.guessed)} read from the request)" if approval.guessed else ""
    print(f"{m.phone} approved: now active, {described}{guessed}")
    print("confirmation SMS queued: modemd run sends it")
    missing = [f"--{field}" for field in approved.missing]
    if missing:
        print(
            f"{m.phone} has no {' and no '.join(f[2:] for f in missing)}: alerts targeted that "
            f"way miss them (set with: modemd subscribers add {m.phone} "
            f"{' '.join(f + ' ...' for f in missing)})",
            file=sys.stderr,
        )


def _import(db: Database, path: Path, as_json: bool, actor: Actor) -> int:
    try:
        report = ops.import_members(db, path, actor).report
    except InvalidInput as exc:
        raise usage(exc, f"{path.name}: ") from None
    if as_json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        return 0
    print(
        f"{path.name}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, "
        f"{report.kept_unsubscribed} kept unsubscribed (they sent STOP), "
        f"{len(report.problems)} line(s) skipped"
    )
    for line, problem in report.problems:
        print(f"  line {line}: {problem}")
    return 0


def _list(db: Database, status: str | None, as_json: bool) -> int:
    members = ops.list_members(db, status)
    if as_json:
        print(json.dumps([m.__dict__ for m in members], indent=2, ensure_ascii=False))
        return 0
    for m in members:
        request = f"  [request: {m.request}]" if m.request else ""
        print(f"{m.phone:<14} {m.status:<13} {m.commune:<20} {m.sector:<16} {m.name}{request}")
    counts = ", ".join(f"{n} {s}" for s, n in ops.member_counts(db).items())
    print(f"{len(members)} listed ({counts})", file=sys.stderr)
    return 0
