"""``modemd alert send/list/show/cancel``: the operations, printed."""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from pathlib import Path
from typing import Any

from modemd.cli.common import Failure, UsageError, database, usage
from modemd.cli.reports import DEFAULT_PART_SECONDS, clock, duration
from modemd.config import Config, LimitsConfig
from modemd.operations.actor import Actor
from modemd.operations.alerts import (
    cancel_alert,
    check_alert,
    list_alerts,
    read_alert,
    show_alert,
    submit_alert,
)
from modemd.operations.drop import drop_alert_file
from modemd.operations.errors import InvalidInput, NotFound
from modemd.pipeline.alerts import AlertRequest
from modemd.pipeline.preview import Pace, Plan
from modemd.store.db import StoreError
from modemd.store.lock import running_pid


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


def alert_send(config: Config, path: Path, check: bool, as_json: bool) -> int:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        request = read_alert(path.name, data, config)
        with database(config) as db:
            result = check_alert(config, db, request)
    except InvalidInput as exc:
        raise usage(exc, f"{path.name}: ") from None
    if check:
        report = result.report
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
            f"Recipients: {result.recipients} ({request.target.describe()}), "
            f"priority {request.priority}"
        )
        print(
            f"Time: about {duration(result.pace.seconds)} for all of them, "
            f"{_pace_text(result.pace, result.plans)}"
        )
        print("Nothing was sent (--check).")
        return 0
    return _drop(config, path, data, request, as_json)


def _drop(
    config: Config, path: Path, data: bytes, request: AlertRequest, as_json: bool
) -> int:
    try:
        if running_pid(config.state_dir) is None:
            # No daemon: the file waits in outgoing/, where an operator can still see and
            # withdraw it, and is taken when the daemon starts.
            name, outcome = drop_alert_file(config, path.name, data), None
        else:
            # A daemon: straight into the database, the daemon woken (no file to notice).
            name, outcome = path.name, _submit(config, path, data, request)
    except StoreError as exc:
        raise Failure(str(exc)) from exc
    except OSError as exc:
        raise Failure(f"cannot write into {config.spool_dir}: {exc.strerror or exc}") from exc
    if outcome is None:
        if as_json:
            print(json.dumps({"file": name, "state": "queued", "daemon": None}))
        else:
            print(
                f"queued as outgoing/{name}; no modemd daemon is running, so it is sent when "
                "one starts (modemd run, or systemctl start modemd)"
            )
        return 0
    if as_json:
        print(json.dumps({"file": name, **outcome}, ensure_ascii=False))
    elif outcome["state"] == "accepted":
        kept = f" (done/{outcome['done']})" if outcome["done"] else ""
        print(
            f"accepted as alert {outcome['alert_id']} for {outcome['recipients']} "
            f"recipient(s){kept}"
        )
    else:
        kept = f" (this file: done/{outcome['done']})" if outcome["done"] else ""
        print(
            f"not sent again: the id {outcome['key']!r} was already sent as alert "
            f"{outcome['alert_id']}{kept}"
        )
    return 0


def _submit(config: Config, path: Path, data: bytes, request: AlertRequest) -> dict[str, Any]:
    try:
        with database(config) as db:
            submitted = submit_alert(
                config, db, request, Actor.cli(), source_name=path.name, source_data=data
            )
    except InvalidInput as exc:  # the members changed since the check: nobody left
        raise usage(exc, f"{path.name}: ") from None
    outcome: dict[str, Any] = {
        "state": "duplicate" if submitted.duplicate else "accepted",
        "alert_id": submitted.alert_id,
        "done": submitted.done,
        "daemon": submitted.daemon,
    }
    if submitted.duplicate:
        outcome["key"] = submitted.key
    else:
        outcome["recipients"] = submitted.recipients
    return outcome


def alert_list(config: Config, as_json: bool, limit: int) -> int:
    with database(config) as db:
        rows = list_alerts(db, limit)
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
    try:
        with database(config) as db:
            detail = show_alert(db, alert_id)
    except NotFound as exc:
        raise UsageError(exc.what) from None
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
    receipts = detail["receipts"]
    if receipts["sent"]:
        print(
            f"receipts: {receipts['delivered']} of {receipts['sent']} delivered, "
            f"{receipts['failed']} not delivered, {receipts['awaiting']} awaiting a receipt"
        )
    print()
    for d in detail["deliveries"]:
        report = f" ({d['report']})" if d["report"] else ""
        error = f" - {d['last_error']}" if d["last_error"] and d["state"] != "sent" else ""
        print(f"  {d['phone']:<14} {(d['name'] or ''):<24} {d['state']}{report}{error}")
    return 0


def alert_cancel(config: Config, alert_id: str) -> int:
    try:
        with database(config) as db:
            result = cancel_alert(db, alert_id, Actor.cli())
    except NotFound as exc:
        raise UsageError(exc.what) from None
    if result.already is not None:
        print(f"alert {result.alert_id} is already {result.already}: nothing left to cancel")
        return 0
    begun = (
        f"; {result.begun} message(s) already begun are being finished (the whole SMS is "
        "the unit)"
        if result.begun
        else ""
    )
    print(
        f"alert {result.alert_id} cancelled: {result.cancelled} recipient(s) will not get "
        f"it{begun}"
    )
    return 0
