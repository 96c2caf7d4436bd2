"""Webhooks an admin adds in the console, kept in the database beside those of the
configuration file; the daemon's senders pick up a change within seconds. The secret is
made here (32 random bytes), shown once, and kept as it is: it is the key that signs."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass

from modemd.config import Config, ConfigError, WebhookConfig, check_webhook
from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound, Problem
from modemd.store import audit
from modemd.store.db import Database


@dataclass(frozen=True)
class Webhook:
    hook: WebhookConfig
    source: str  # "config" (the file: changed there) or "console"


def _field(message: str) -> str:
    for name in ("url", "events", "secret"):
        if f".{name}" in message.split(":", maxsplit=1)[0]:
            return name
    return "url"


def add_webhook(db: Database, config: Config, url: str, events: list[str], actor: Actor) -> str:
    """Add one; returns its secret (shown once)."""
    secret = secrets.token_urlsafe(32)
    hook = WebhookConfig(url=url.strip(), secret=secret, events=list(events))
    try:
        check_webhook(hook)
    except ConfigError as exc:
        text = str(exc).split(": ", 1)[-1]
        raise InvalidInput([Problem(_field(str(exc)), text)]) from None
    if any(w.url == hook.url for w in config.webhooks):
        raise InvalidInput([Problem("url", "this URL is already a webhook of the config file")])
    now = time.time()
    try:
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO webhooks (url, secret, events, created_at, created_by) "
                "VALUES (?, ?, ?, ?, ?)",
                (hook.url, secret, json.dumps(hook.events), now, str(actor)),
            )
            audit.record(conn, now, "webhook_added", actor=str(actor), client=actor.client,
                         detail={"url": hook.url, "events": hook.events})
    except sqlite3.IntegrityError:
        raise InvalidInput([Problem("url", "this URL is already a webhook")]) from None
    return secret


def remove_webhook(db: Database, url: str, actor: Actor) -> None:
    now = time.time()
    with db.transaction() as conn:
        if conn.execute("DELETE FROM webhooks WHERE url = ?", (url,)).rowcount == 0:
            raise NotFound(f"no webhook {url} added in the console")
        audit.record(conn, now, "webhook_removed", actor=str(actor), client=actor.client,
                     detail={"url": url})


def console_webhooks(db: Database) -> list[WebhookConfig]:
    return [
        WebhookConfig(url=str(r["url"]), secret=str(r["secret"]), events=json.loads(r["events"]))
        for r in db.query("SELECT url, secret, events FROM webhooks ORDER BY created_at")
    ]


def all_webhooks(config: Config, db: Database) -> list[Webhook]:
    """The file's, then the console's (a URL in both: the file's wins)."""
    found = [Webhook(h, "config") for h in config.webhooks]
    urls = {h.url for h in config.webhooks}
    found += [Webhook(h, "console") for h in console_webhooks(db) if h.url not in urls]
    return found
