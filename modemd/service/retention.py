"""Keep only what is needed: texts are purged after the configured days; who got what, and
every opt-out, stay (the audit trail and the proof that a STOP was honoured)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from modemd.config import RetentionConfig
from modemd.store.db import Database

log = logging.getLogger(__name__)

DAY = 86400.0


@dataclass(frozen=True)
class Purged:
    messages: int
    inbound: int
    files: int


def purge(
    db: Database, incoming: Path, config: RetentionConfig, now: float | None = None
) -> Purged:
    now = time.time() if now is None else now
    message_cutoff = now - config.message_days * DAY
    inbound_cutoff = now - config.inbound_days * DAY
    with db.transaction() as conn:
        messages = conn.execute(
            "UPDATE alerts SET message = '', advice = '', text = '' "
            "WHERE state != 'active' AND finished_at < ? AND text != ''",
            (message_cutoff,),
        ).rowcount
        inbound = conn.execute(
            "UPDATE inbound SET text = NULL WHERE at < ? AND text IS NOT NULL",
            (inbound_cutoff,),
        ).rowcount
        # An alert asked by SMS holds its text until confirmed or dropped; then as the
        # alert's own text. Old wrong-PIN records count for nothing after their hour.
        messages += conn.execute(
            "UPDATE sms_requests SET fields = '{}' WHERE state != 'pending' AND created_at < ? "
            "AND fields != '{}'",
            (message_cutoff,),
        ).rowcount
        conn.execute("DELETE FROM sender_failures WHERE at < ?", (now - DAY,))
        # Webhook events hold alert and inbound texts: gone with the sooner of the two,
        # once delivered or given up (their ids stay stable: they come from the trail).
        conn.execute(
            "DELETE FROM webhook_events WHERE state != 'queued' AND finished_at < ?",
            (max(message_cutoff, inbound_cutoff),),
        )
        conn.execute(
            "UPDATE subscribers SET request_text = NULL "
            "WHERE status != 'pending' AND requested_at < ? AND request_text IS NOT NULL",
            (inbound_cutoff,),
        )
    files = 0
    if incoming.is_dir():
        for path in incoming.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < inbound_cutoff:
                    path.unlink()
                    files += 1
            except OSError as exc:
                log.warning("cannot purge %s: %s", path, exc)
    if messages or inbound or files:
        log.info(
            "retention: %d message texts, %d inbound texts, %d incoming files purged",
            messages,
            inbound,
            files,
        )
    return Purged(messages, inbound, files)
