"""The operator's commands: run, status, alert send/list/show/cancel."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import math
import os
import re
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

from modemd.cli.reports import (
    DEFAULT_PART_SECONDS,
    alert_detail,
    clock,
    duration,
    progress,
    render_status,
)
from modemd.config import Config, LimitsConfig, ModemConfig
from modemd.inbound.handler import approve_request, unsubscribe_member
from modemd.members.csv_files import CsvError, export_csv, import_csv
from modemd.members.registry import Details, Registry
from modemd.phone import InvalidNumber, normalize
from modemd.pipeline.alerts import AlertFileError, is_alert_name, parse_alert
from modemd.pipeline.outbox import Outbox
from modemd.pipeline.preview import Pace, Plan, check_report
from modemd.pipeline.spool import Spool
from modemd.pipeline.throttle import HISTORY, Throttle, pool_estimate
from modemd.service.daemon import Daemon, read_status
from modemd.store.db import Database, StoreError, open_database
from modemd.store.lock import AlreadyRunning, running_pid


class UsageError(Exception):
    """Bad input from the user: exit 2."""


class Failure(Exception):
    """Something else went wrong: exit 1."""


def _db(config: Config) -> Database:
    try:
        return open_database(config.state_dir)
    except StoreError as exc:
        raise Failure(str(exc)) from exc


def _sims(
    config: Config, db: Database, only: set[str] | None = None
) -> list[tuple[Throttle, float]]:
    """Each sending SIM's windows (rebuilt from the send log) and its measured speed;
    ``only``: just these modems (those that can send now)."""
    return [(throttle, speed) for _, throttle, speed in _named_sims(config, db, only)]


def _plans(
    config: Config, db: Database
) -> list[tuple[ModemConfig, list[tuple[float, str]], float]]:
    """Each sending SIM, its send history over the longest window and its measured speed."""
    now = time.time()
    snapshot = read_status(config.state_dir) or {}
    speeds = {m["name"]: m["dispatcher"]["part_seconds"] for m in snapshot.get("modems", [])}
    outbox = Outbox(db)
    return [
        (
            m,
            outbox.send_history(m.name, now - HISTORY),
            float(speeds.get(m.name) or DEFAULT_PART_SECONDS),
        )
        for m in config.pool()
        if m.role != "receive"
    ]


def _pace_text(pace: Pace, plans: list[Plan]) -> str:
    caps = ", ".join(
        f"{f.name} {getattr(plans[0][0], f.name)}"
        for f in dataclasses.fields(LimitsConfig)
        if plans and getattr(plans[0][0], f.name)
    )
    sims = f"; {len(plans)} SIMs share the work" if len(plans) > 1 else ""
    sims += f" (SIM limits: {caps or 'none'})"
    if pace.window is None:
        speed = min((speed for _, _, speed in plans), default=DEFAULT_PART_SECONDS)
        return f"at the modem's own pace (about {speed:.1f} s a part){sims}"
    unit = "recipients" if pace.window.startswith("distinct") else "parts"
    span = {"minute": "a minute", "hour": "an hour", "day": "a day", "month": "a month"}
    per = span.get(pace.window.rsplit("_", 1)[-1], "")
    return (
        f"held back by the {pace.window} limit ({pace.cap} {unit} {per}); at the modem's own "
        f"pace it would take {duration(pace.modem_seconds)}{sims}"
    )


def _named_sims(
    config: Config, db: Database, only: set[str] | None = None
) -> list[tuple[str, Throttle, float]]:
    return [
        (m.name, Throttle(config.limits_of(m), history), speed)
        for m, history, speed in _plans(config, db)
        if only is None or m.name in only
    ]


# ------------------------------------------------------------------------------------ run
def run(config: Config) -> int:
    try:
        return Daemon(config).run()
    except AlreadyRunning as exc:
        raise Failure(str(exc)) from None


# --------------------------------------------------------------------------------- status
def status(config: Config, as_json: bool, watch: bool) -> int:
    """Exit 1 when no daemon runs: what is shown is then the stored queue only."""
    try:
        while True:
            running, text = _status_text(config, as_json)
            if watch and not as_json:
                sys.stdout.write("\x1b[H\x1b[2J" + text + "\n")
                sys.stdout.flush()
            else:
                print(text, flush=True)
                if not watch:
                    break
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0  # the way out of --watch
    if not running:
        print("modemd: no daemon is running on this state folder", file=sys.stderr)
        return 1
    return 0


def _status_text(config: Config, as_json: bool) -> tuple[bool, str]:
    pid = running_pid(config.state_dir)
    snapshot = read_status(config.state_dir)
    last_seen = float(snapshot["updated_at"]) if snapshot and "updated_at" in snapshot else None
    live = (
        snapshot
        if pid is not None
        and snapshot is not None
        and not snapshot.get("stale")
        and pid in (0, snapshot.get("pid"))
        else None
    )
    # Only SIMs that can send now count for an ETA; none (or no daemon): no ETA at all.
    senders = {
        m["name"]
        for m in (live or {}).get("modems", [])
        if m["modem"]["state"] == "ready" and m["modem"]["registered"] is not False
    }
    db = _db(config)
    try:
        alerts = progress(db, active_only=True)
        sims = _sims(config, db, senders)
        windows = [
            (name, [dataclasses.asdict(u) for u in throttle.usage(time.time())])
            for name, throttle, _ in _named_sims(config, db)
        ]
    finally:
        db.close()
    eta: dict[str, float | None] = {}
    pending = 0.0
    now = time.time()
    for a in sorted(alerts, key=lambda p: (p.priority != "urgent", p.created_at)):
        if not sims:
            eta[a.alert_id] = None
            continue
        # Alerts go one after the other, so each ETA includes those ahead of it.
        pending += pool_estimate(sims, now + pending, a.unsent, a.parts)
        eta[a.alert_id] = math.ceil(pending) if a.unsent else 0
    if as_json:
        return pid is not None, json.dumps(
            {
                "running": pid is not None,
                "pid": pid,
                "last_seen": last_seen,
                "daemon": live,
                "windows": dict(windows),
                "alerts": [{**a.as_dict(), "eta_seconds": eta.get(a.alert_id)} for a in alerts],
            },
            indent=2,
            ensure_ascii=False,
        )
    text = render_status(
        live, alerts, eta, running_pid=pid, windows=windows, last_seen=last_seen
    )
    return pid is not None, text


# ---------------------------------------------------------------------------------- alert
def alert_send(config: Config, path: Path, check: bool, as_json: bool) -> int:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not is_alert_name(path.name):
        raise UsageError(f"{path.name}: alert files end in .yaml, .yml or .txt")
    try:
        request = parse_alert(path.name, data, config.alerts)
    except AlertFileError as exc:
        raise UsageError(f"{path.name}: {exc}") from exc
    db = _db(config)
    try:
        recipients = Registry(db).targeted(request.target)
        plans = [
            (config.limits_of(m), throttle_history, speed)
            for m, throttle_history, speed in _plans(config, db)
        ]
    finally:
        db.close()
    if not recipients:
        raise UsageError(
            f"{path.name}: the target ({request.target.describe()}) matches no active member"
        )
    if check:
        report, pace = check_report(request, len(recipients), plans, time.time())
        if as_json:
            print(json.dumps(report, indent=2, ensure_ascii=False))
            return 0
        comp = request.composition
        print(
            f"SMS ({comp.encoding.value.upper()}, {comp.part_count} part(s), "
            f"{len(comp.text)} characters):"
        )
        print("  " + comp.text.replace("\n", "\n  "))
        for ch in report["lost_characters"]:
            print(
                f"warning: {ch} ({unicodedata.name(ch, 'unnamed').lower()}) has no GSM-7 "
                "equivalent and is sent as '?'; remove it, or set alerts.transliterate: "
                "false to send in UCS-2 (67 characters a part)"
            )
        print(
            f"Recipients: {len(recipients)} ({request.target.describe()}), "
            f"priority {request.priority}"
        )
        print(f"Time: about {duration(pace.seconds)} for all of them, {_pace_text(pace, plans)}")
        print("Nothing was sent (--check).")
        return 0
    return _drop(config, path, data, as_json)


def _drop(config: Config, path: Path, data: bytes, as_json: bool) -> int:
    spool = Spool(config.spool_dir)
    spool.ensure()
    name = path.name
    n = 1
    while (spool.outgoing / name).exists():
        name = f"{path.stem}-{n}{path.suffix}"
        n += 1
    # What is already there under this name belongs to earlier drops, not to this one.
    earlier = _outcome_files(spool, name)
    mark = _audit_mark(config)
    tmp = spool.outgoing / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, spool.outgoing / name)  # the documented way: write aside, rename in
    pid = running_pid(config.state_dir)
    if pid is None:
        outcome: dict[str, Any] = {"state": "queued", "daemon": None}
    else:
        outcome = _wait_outcome(config, spool, name, (earlier, mark), timeout=10.0)
        outcome["daemon"] = pid
    state = outcome["state"]
    if as_json:
        print(json.dumps({"file": name, **outcome}, ensure_ascii=False))
    elif state == "accepted":
        print(
            f"accepted as alert {outcome['alert_id']} for {outcome['recipients']} "
            f"recipient(s) (done/{outcome['done']})"
        )
    elif state == "duplicate":
        print(
            f"not sent again: the id {outcome['key']!r} was already sent as alert "
            f"{outcome['alert_id']} (this file: done/{outcome['done']})"
        )
    elif state == "rejected":
        print(f"rejected: {outcome['reason']}", file=sys.stderr)
    elif pid is None:
        print(
            f"queued as outgoing/{name}; no modemd daemon is running, so it is sent when "
            "one starts (modemd run, or systemctl start modemd)"
        )
    else:
        print(
            f"queued as outgoing/{name}; the daemon (PID {pid}) has not taken it yet: "
            "see modemd status and its log"
        )
    return 2 if state == "rejected" else 0  # the file was bad input


def _outcome_files(spool: Spool, name: str) -> dict[str, int]:
    """The files in done/ and failed/ that an intake of ``name`` may produce (done/
    ``<time>_<alert id>_<name>``, failed/ ``<name>[.N].error``), with their inode: a repeat
    within the same second replaces a done/ file of the same name."""
    rejected = re.compile(re.escape(name) + r"(\.\d+)?\.error")
    found: dict[str, int] = {}
    for folder, match in (
        (spool.done, lambda n: n.endswith(f"_{name}")),
        (spool.failed, rejected.fullmatch),
    ):
        for entry in os.scandir(folder):
            if match(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    found[f"{folder.name}/{entry.name}"] = entry.inode()
    return found


def _wait_outcome(
    config: Config, spool: Spool, name: str, before: tuple[dict[str, int], int], timeout: float
) -> dict[str, Any]:
    earlier, mark = before
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (spool.outgoing / name).exists():
            now = _outcome_files(spool, name)
            for new in sorted(k for k, inode in now.items() if earlier.get(k) != inode):
                folder, file = new.split("/", 1)
                if folder == "failed":
                    reason = (spool.failed / file).read_text(encoding="utf-8").strip()
                    return {"state": "rejected", "reason": reason}
                return _accepted(config, file, name, mark)
        time.sleep(0.05)
    return {"state": "queued"}


def _audit_mark(config: Config) -> int:
    """The last audit entry before a drop: what the intake records after it is this drop's."""
    db = _db(config)
    try:
        row = db.one("SELECT MAX(id) AS id FROM audit")
    finally:
        db.close()
    return int(row["id"] or 0) if row else 0


def _accepted(config: Config, done_name: str, name: str, mark: int) -> dict[str, Any]:
    """This drop's alert, or the earlier alert of the same `id` it repeats (the intake's
    audit entry for this file says which)."""
    alert_id = done_name.split("_", 2)[1]
    db = _db(config)
    try:
        events = db.query(
            "SELECT event, detail FROM audit WHERE id > ? AND alert_id = ? "
            "AND event IN ('accepted', 'duplicate') ORDER BY id DESC",
            (mark, alert_id),
        )
        recipients = db.one("SELECT COUNT(*) AS n FROM deliveries WHERE alert_id = ?", (alert_id,))
    finally:
        db.close()
    outcome: dict[str, Any] = {"alert_id": alert_id, "done": done_name}
    for event in events:
        detail = json.loads(event["detail"])
        if detail.get("source") != name:
            continue
        if event["event"] == "duplicate":
            return {"state": "duplicate", "key": detail.get("key"), **outcome}
        break
    return {"state": "accepted", "recipients": int(recipients["n"]) if recipients else 0, **outcome}


def alert_list(config: Config, as_json: bool, limit: int) -> int:
    db = _db(config)
    try:
        rows = progress(db, limit=limit)
    finally:
        db.close()
    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no alerts yet")
    for r in rows:
        print(
            f"{r.alert_id:<12} {clock(r.created_at)}  {r.state:<9} {r.priority:<6} "
            f"{r.category:<22} {r.sent}/{r.total} sent, {r.failed} failed, "
            f"{r.cancelled} cancelled"
        )
    return 0


def alert_show(config: Config, alert_id: str, as_json: bool) -> int:
    db = _db(config)
    try:
        detail = alert_detail(db, alert_id)
    finally:
        db.close()
    if detail is None:
        raise UsageError(f"no alert {alert_id!r} (see modemd alert list)")
    if as_json:
        print(json.dumps(detail, indent=2, ensure_ascii=False))
        return 0
    print(
        f"alert {detail['id']} - {detail['state']}, {detail['priority']}, "
        f"{detail['category']}, issued by {detail['issued_by'] or '-'}"
    )
    print(
        f"created {clock(detail['created_at'])}, expires {clock(detail['expires_at'])}, "
        f"{detail['parts']} part(s) in {detail['encoding']}"
    )
    print("  " + detail["text"].replace("\n", "\n  "))
    print()
    for d in detail["deliveries"]:
        report = f" ({d['report']})" if d["report"] else ""
        error = f" - {d['last_error']}" if d["last_error"] and d["state"] != "sent" else ""
        print(f"  {d['phone']:<14} {(d['name'] or ''):<24} {d['state']}{report}{error}")
    return 0


def alert_cancel(config: Config, alert_id: str) -> int:
    db = _db(config)
    try:
        before = progress(db, alert_id=alert_id, limit=1)
        cancelled = Outbox(db).cancel(alert_id, by=f"cli:{getpass.getuser()}")
        after = progress(db, alert_id=alert_id, limit=1)
    except KeyError:
        raise UsageError(f"no alert {alert_id!r} (see modemd alert list)") from None
    finally:
        db.close()
    if before and before[0].state != "active":
        print(f"alert {before[0].alert_id} is already {before[0].state}: nothing left to cancel")
        return 0
    alert = after[0]
    begun = (
        f"; {alert.unsent} message(s) already begun are being finished (the whole SMS is "
        "the unit)"
        if alert.unsent
        else ""
    )
    print(
        f"alert {alert.alert_id} cancelled: {cancelled} recipient(s) will not get it{begun}"
    )
    return 0


# ---------------------------------------------------------------------------- subscribers
def subscribers(config: Config, action: str, args: dict[str, Any]) -> int:
    db = _db(config)
    try:
        registry = Registry(db)
        if action == "import":
            return _import(db, Path(args["file"]), args["json"])
        if action == "export":
            count = export_csv(db, Path(args["file"]), args.get("lang") or "fr")
            print(f"{count} member(s) written to {args['file']}")
            return 0
        if action == "list":
            return _list(registry, args["status"], args["json"])
        phone = _number(args["phone"])
        if action == "add":
            member, outcome = registry.add(
                phone,
                name=args["name"] or "",
                commune=args["commune"] or "",
                sector=args["sector"] or "",
                source="cli",
            )
            print(f"{member.phone} {outcome} ({member.status})")
            return 0
        try:
            if action == "remove":
                registry.remove(phone)
                print(f"{phone} removed (an opt-out record, if any, is kept)")
            elif action == "unsubscribe":
                cancelled, confirmed = unsubscribe_member(db, config.inbound, phone)
                told = "; confirmation SMS queued: modemd run sends it" if confirmed else ""
                print(f"{phone} unsubscribed, {cancelled} unsent SMS cancelled{told}")
            else:
                _approve(config, db, phone, args)
        except KeyError:
            raise UsageError(f"{phone} is not in the members list") from None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return 0
    finally:
        db.close()


def _approve(config: Config, db: Database, phone: str, args: dict[str, Any]) -> None:
    given = Details(args["name"] or "", args["commune"] or "", args["sector"] or "")
    approval = approve_request(db, config.inbound, phone, given)
    m = approval.member
    described = ", ".join(
        f"{field} {getattr(m, field)!r}" for field in ("name", "commune", "sector")
    )
    guessed = f" ({', '.join(approval.guessed)} read from the request)" if approval.guessed else ""
    print(f"{m.phone} approved: now active, {described}{guessed}")
    print("confirmation SMS queued: modemd run sends it")
    missing = [f"--{field}" for field in ("commune", "sector") if not getattr(m, field)]
    if missing:
        print(
            f"{m.phone} has no {' and no '.join(f[2:] for f in missing)}: alerts targeted that "
            f"way miss them (set with: modemd subscribers add {m.phone} "
            f"{' '.join(f + ' ...' for f in missing)})",
            file=sys.stderr,
        )


def _number(raw: str) -> str:
    try:
        return normalize(raw)
    except InvalidNumber as exc:
        raise UsageError(str(exc)) from None


def _import(db: Database, path: Path, as_json: bool) -> int:
    try:
        report = import_csv(db, path)
    except CsvError as exc:
        raise UsageError(f"{path.name}: {exc}") from None
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


def _list(registry: Registry, status: str | None, as_json: bool) -> int:
    members = registry.list(status)
    if as_json:
        print(json.dumps([m.__dict__ for m in members], indent=2, ensure_ascii=False))
        return 0
    for m in members:
        request = f"  [request: {m.request}]" if m.request else ""
        print(f"{m.phone:<14} {m.status:<13} {m.commune:<20} {m.sector:<16} {m.name}{request}")
    counts = ", ".join(f"{registry.count(s)} {s}" for s in ("active", "pending", "unsubscribed"))
    print(f"{len(members)} listed ({counts})", file=sys.stderr)
    return 0
