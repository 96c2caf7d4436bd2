"""Submitting an alert once per key: the first call's answer is stored with the alert and
given again to every later call with the same key (``Idempotency-Key`` or the alert's
``id``), whichever process answers and however often it restarted in between."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modemd.config import Config
from modemd.operations.actor import Actor
from modemd.operations.alerts import alert_from_mapping, submit_alert
from modemd.operations.errors import InvalidInput, Problem
from modemd.store.db import Database

MAX_KEY = 200


@dataclass(frozen=True)
class Answer:
    status: int  # the HTTP status the first call got
    body: dict[str, Any]
    replayed: bool  # this call got a stored answer; nothing new was queued


def _stored(db: Database, key: str, digest: str) -> Answer | None:
    """The first answer given for ``key``; InvalidInput if that key was for another alert
    (a client reusing a key by mistake must not believe its new alert went out)."""
    row = db.one(
        "SELECT alert_id, status, body, fields_sha256 FROM api_answers WHERE key = ?", (key,)
    )
    if row is None:
        return None
    if row["fields_sha256"] != digest:
        raise InvalidInput(
            [
                Problem(
                    "Idempotency-Key",
                    f"this key was already used for another alert ({row['alert_id']}); "
                    "give each new alert a new key",
                )
            ]
        )
    return Answer(int(row["status"]), json.loads(row["body"]), True)


def _digest(fields: Mapping[str, Any]) -> str:
    """The alert asked for, whatever the key's spelling and the order of its fields."""
    canonical = json.dumps(
        {k: v for k, v in fields.items() if k != "id"}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit_once(
    config: Config, db: Database, fields: Mapping[str, Any], key: str | None, actor: Actor
) -> Answer:
    """Validate and queue an alert; with a key (the header's, else the body's ``id``), the
    same key twice is one alert and the same answer. A refused alert stores nothing, so a
    corrected call with the same key goes through."""
    given = fields.get("id")
    if key is not None:
        key = key.strip()
        if not key or len(key) > MAX_KEY:
            raise InvalidInput(
                [Problem("Idempotency-Key", f"a key is 1 to {MAX_KEY} characters")]
            )
        if given is not None and str(given) != key:
            raise InvalidInput(
                [Problem("id", "the alert's id differs from the Idempotency-Key header")]
            )
        fields = {**fields, "id": key}
    elif given is not None:
        key = str(given)
    digest = _digest(fields)
    if key is not None:
        found = _stored(db, key, digest)
        if found is not None:
            return found
    request = alert_from_mapping(fields, config)
    submitted = submit_alert(config, db, request, actor)
    body: dict[str, Any] = {
        "alert_id": submitted.alert_id,
        "recipients": submitted.recipients,
        "key": submitted.key,
        "state": "duplicate" if submitted.duplicate else "accepted",
        "daemon_running": submitted.daemon is not None,
    }
    answer = Answer(200 if submitted.duplicate else 201, body, submitted.duplicate)
    if key is None:
        return answer
    with db.transaction() as conn:
        # Two calls racing with one key made one alert (the outbox is idempotent by key);
        # the first answer stored is the one both get from now on.
        conn.execute(
            "INSERT OR IGNORE INTO api_answers "
            "(key, alert_id, status, body, fields_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (key, submitted.alert_id, answer.status, json.dumps(body), digest, time.time()),
        )
    stored = _stored(db, key, digest)
    assert stored is not None
    return Answer(stored.status, stored.body, submitted.duplicate)
