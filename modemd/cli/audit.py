"""``modemd audit``: who did what, oldest first."""

from __future__ import annotations

import json
from dataclasses import asdict

from modemd.cli.common import database, usage
from modemd.cli.reports import clock
from modemd.config import Config
from modemd.operations.audit import audit_trail, parse_since
from modemd.operations.errors import InvalidInput


def audit(config: Config, since: str | None, actor: str | None, as_json: bool) -> int:
    try:
        start = parse_since(since) if since else None
    except InvalidInput as exc:
        raise usage(exc) from None
    with database(config) as db:
        entries = audit_trail(db, start, actor)
    if as_json:
        print(json.dumps([asdict(e) for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print("nothing recorded" + (" for these criteria" if since or actor else ""))
    for e in entries:
        about = " ".join(x for x in (e.alert_id, e.phone) if x)
        client = f" from {e.client}" if e.client else ""
        detail = ", ".join(f"{k} {v}" for k, v in e.detail.items() if v not in (None, ""))
        print(
            f"{clock(e.at)}  {e.actor}{client}  {e.event} {about}"
            + (f" ({detail})" if detail else "")
        )
    return 0
