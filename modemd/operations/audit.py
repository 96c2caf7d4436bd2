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


# One line per recipient of each alert (and one per delivery report): the bulk of the trail,
# which a person reading who did what usually wants out of the way.
PER_RECIPIENT = ("sent", "failed", "report")


def audit_trail(
    db: Database,
    since: float | None = None,
    actor_prefix: str | None = None,
    *,
    latest: int = 0,
    per_recipient: bool = True,
) -> list[Entry]:
    """Oldest first; ``latest``: only the last so many; ``per_recipient``: with each SMS
    sent or failed."""
    return entries(
        db, since, actor_prefix, limit=latest, exclude=() if per_recipient else PER_RECIPIENT
    )


__all__ = ["Entry", "audit_trail", "parse_since"]
