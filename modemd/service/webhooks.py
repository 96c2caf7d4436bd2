"""The webhooks' senders: one thread per webhook, each with its own database connection,
so a slow or dead receiver delays nothing but its own queue — never a send, never the
daemon's loop. Each pass queues what was recorded since the webhook's cursor, then POSTs
its events in order, signed, each attempt bounded by the webhook's ``timeout``."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from modemd.config import Config, WebhookConfig, parse_duration
from modemd.operations.webhook_settings import all_webhooks
from modemd.operations.webhooks import (
    SIGNATURE_HEADER,
    Pending,
    collect,
    delivered,
    head,
    refused,
    signature,
)
from modemd.store.db import Database, open_database

log = logging.getLogger(__name__)

POLL = 0.5  # seconds between looks at the trail: events reach a receiver within a second


def post(hook: WebhookConfig, event: Pending, now: float) -> str | None:
    """One attempt: None when the receiver answered 2xx, else what went wrong (never the
    secret, which is only ever an HMAC key)."""
    request = urllib.request.Request(
        hook.url,
        data=event.body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "modemd-webhook",
            SIGNATURE_HEADER: signature(hook.secret, event.body, int(now)),
            "Modemd-Event": event.type,
            "Modemd-Event-Id": event.event_id,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=parse_duration(hook.timeout)) as answer:
            answer.read(64 * 1024)
            return None if 200 <= answer.status < 300 else f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason) or type(exc).__name__


class WebhookSender(threading.Thread):
    def __init__(
        self, config: Config, hook: WebhookConfig, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(name=f"webhook {hook.url}", daemon=True)
        self.config = config
        self.hook = hook
        self.clock = clock
        self.stopping = threading.Event()
        self._failing = False  # said once in the log per outage, not at every retry

    def run(self) -> None:
        db = open_database(self.config.state_dir)
        try:
            while not self.stopping.is_set():
                try:
                    self._pass(db)
                except Exception:  # the next pass tries again; the daemon goes on
                    log.exception("webhook %s: pass failed", self.hook.url)
                self.stopping.wait(POLL)
        finally:
            db.close()

    def _pass(self, db: Database) -> None:
        while collect(db, self.hook, self.clock()) and not self.stopping.is_set():
            pass  # a long outage: catch up batch by batch
        while not self.stopping.is_set():
            event = head(db, self.hook)
            now = self.clock()
            if event is None or event.next_attempt_at > now:
                return
            error = post(self.hook, event, now)
            if error is None:
                delivered(db, event, self.clock())
                if self._failing:
                    log.info("webhook %s: delivering again", self.hook.url)
                    self._failing = False
                continue
            gave_up = refused(db, self.hook, event, error, self.clock())
            if gave_up:
                log.error(
                    "webhook %s: event %s given up after %s: %s",
                    self.hook.url, event.event_id, self.hook.give_up_after, error,
                )
            elif not self._failing:
                log.warning("webhook %s: %s; retrying with backoff", self.hook.url, error)
                self._failing = True
            return


class WebhookPool(threading.Thread):
    """A sender per webhook, the configuration file's and the console's: every ``RELOOK``
    seconds, one added in the console is started and one removed there is stopped."""

    RELOOK = 5.0

    def __init__(self, config: Config) -> None:
        super().__init__(name="webhooks", daemon=True)
        self.config = config
        self.senders: dict[str, WebhookSender] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        db = open_database(self.config.state_dir)
        try:
            while not self.stopping.is_set():
                try:
                    self._reconcile(db)
                except Exception:
                    log.exception("webhooks: cannot read the console's webhooks")
                self.stopping.wait(self.RELOOK)
        finally:
            db.close()

    def _reconcile(self, db: Database) -> None:
        wanted = {w.hook.url: w.hook for w in all_webhooks(self.config, db)}
        for url in [u for u in self.senders if u not in wanted]:
            self.senders.pop(url).stopping.set()
            log.info("webhook %s removed", url)
        for url, hook in wanted.items():
            if url not in self.senders and not self.stopping.is_set():
                self.senders[url] = WebhookSender(self.config, hook)
                self.senders[url].start()

    def stop(self) -> None:
        self.stopping.set()
        self.join(2.0)
        senders = list(self.senders.values())
        for sender in senders:
            sender.stopping.set()
        deadline = time.monotonic() + 2.0  # an attempt in flight ends at its own timeout
        for sender in senders:
            sender.join(max(0.0, deadline - time.monotonic()))
