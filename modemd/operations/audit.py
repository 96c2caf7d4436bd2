"""The audit trail, read: who did what, since when, by which actor."""

from __future__ import annotations

import re
import time
from datetime import datetime

from modemd.config import parse_duration
from modemd.operations.errors import InvalidInput, Problem
from modemd.store.audit import Entry, entries
from modemd.store.db import Database


def parse_since(raw: str, now: float | None = None) -> float:
    """A duration back from now (``2h``, ``7d``) or a date (``2026-11-29``, with a time)."""
    now = time.time() if now is None else now
    text = raw.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?", text):
        stamp = datetime.fromisoformat(text)
        return (stamp if stamp.tzinfo else stamp.astimezone()).timestamp()
    try:
        return now - parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(
            [Problem("since", f"--since: {exc} (or a date such as 2026-11-29)")]
        ) from None


def audit_trail(
    db: Database, since: float | None = None, actor_prefix: str | None = None
) -> list[Entry]:
    return entries(db, since, actor_prefix)


__all__ = ["Entry", "audit_trail", "parse_since"]
