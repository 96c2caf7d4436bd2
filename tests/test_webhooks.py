"""The webhooks' queue on its own, with the time given: the backoff doubles up to its
ceiling, an event still refused 24 h after it happened is given up (and the next one goes),
the dashboard shows an admin what was given up; a receiver that never answers costs one
timeout per attempt; the secret is never sent."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from modemd.config import Config, ConfigError, ModemConfig, WebhookConfig, parse_config
from modemd.members.registry import Details
from modemd.operations.actor import Actor
from modemd.operations.members import add_member, unsubscribe
from modemd.operations.status import status
from modemd.operations.webhooks import (
    collect,
    delivered,
    head,
    refused,
    signature,
    webhook_health,
)
from modemd.pipeline.outbox import Outbox
from modemd.service.notices import Notices
from modemd.service.retention import purge
from modemd.service.webhooks import WebhookPool, post
from modemd.store.audit import entries
from modemd.store.db import Database, open_database
from modemd.web.app import create_app
from tests.web_support import csrf_of, free_port, logged_in, make_users, serving, wait_until
from tests.webhook_support import Receiver

SECRET = "le secret du webhook de test"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Config, Database, WebhookConfig]]:
    hook = WebhookConfig(url=f"http://127.0.0.1:{free_port()}/dead", secret=SECRET,
                         timeout="0.5s", retry_first="10s", retry_max="1h")
    config = Config(modem=ModemConfig(port="sim://"), spool_dir=tmp_path / "spool",
                    state_dir=tmp_path / "state", webhooks=[hook])
    db = open_database(config.state_dir)
    yield config, db, hook
    db.close()


def _two_opt_outs(config: Config, db: Database) -> None:
    for phone in ("0611000001", "0611000002"):
        add_member(db, phone, Details("Tabac"), Actor("system"))
        unsubscribe(config, db, phone, Actor("system"))


def test_backoff_doubles_to_its_ceiling_then_gives_up_after_a_day(
    setup: tuple[Config, Database, WebhookConfig],
) -> None:
    config, db, hook = setup
    collect(db, hook)  # the first look: the cursor starts here
    _two_opt_outs(config, db)
    collect(db, hook)
    first = head(db, hook)
    assert first is not None and first.type == "member.unsubscribed"
    now, waits = first.created_at, []
    for _ in range(12):
        event = head(db, hook)
        assert event is not None and event.id == first.id  # the next waits its turn
        error = post(hook, event, now)
        assert error is not None  # nothing listens there
        assert not refused(db, hook, event, error, now)
        after = head(db, hook)
        assert after is not None
        waits.append(after.next_attempt_at - now)
        now = after.next_attempt_at
    assert waits[:5] == [10, 20, 40, 80, 160] and max(waits) == 3600
    event = head(db, hook)
    assert event is not None
    assert refused(db, hook, event, "HTTP 503", first.created_at + 24 * 3600)
    following = head(db, hook)
    assert following is not None and following.id != first.id  # the queue goes on
    [health] = webhook_health(db)
    assert (health.failed, health.queued) == (1, 1)


def test_the_dashboard_shows_an_admin_the_events_given_up(
    setup: tuple[Config, Database, WebhookConfig],
) -> None:
    config, db, hook = setup
    collect(db, hook)
    _two_opt_outs(config, db)
    collect(db, hook)
    event = head(db, hook)
    assert event is not None
    refused(db, hook, event, "HTTP 503", event.created_at + 25 * 3600)
    shown = status(config, db).as_dict()["webhooks"]
    assert shown == [{"queued": 1, "failed": 1, "last_error": "HTTP 503"}]
    make_users(db)
    with serving(create_app(config, db)) as base:
        with logged_in(base, "admin") as client:
            page = client.get("/").text
            assert hook.url in page and "HTTP 503" in page and "non remis" in page
        with logged_in(base, "operateur") as client:
            assert hook.url not in client.get("/").text


def test_a_receiver_that_never_answers_costs_one_timeout(
    setup: tuple[Config, Database, WebhookConfig],
) -> None:
    config, db, _ = setup
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    port = silent.getsockname()[1]
    slow = WebhookConfig(url=f"http://127.0.0.1:{port}/", secret=SECRET, timeout="0.5s")
    collect(db, slow)
    _two_opt_outs(config, db)
    collect(db, slow)
    event = head(db, slow)
    assert event is not None
    started = time.monotonic()
    error = post(slow, event, time.time())
    assert error is not None and 0.4 < time.monotonic() - started < 3
    silent.close()


def test_the_signature_covers_time_and_body_and_the_secret_is_never_sent(
    setup: tuple[Config, Database, WebhookConfig],
) -> None:
    config, db, _ = setup
    got: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((str(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    hook = WebhookConfig(url=f"http://127.0.0.1:{server.server_address[1]}/", secret=SECRET)
    collect(db, hook)
    _two_opt_outs(config, db)
    collect(db, hook)
    event = head(db, hook)
    assert event is not None
    assert post(hook, event, 1_800_000_000) is None
    server.server_close()
    [(headers, body)] = got
    assert body == event.body
    assert f"Modemd-Signature: {signature(SECRET, body, 1_800_000_000)}" in headers
    assert SECRET not in headers and SECRET.encode() not in body
    assert hook.secret not in repr(hook)  # nor in a log line that prints the settings


def test_the_readme_s_receiver_check_accepts_our_signature_and_nothing_else() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", readme[readme.index("### Webhooks"):], re.S)
    assert code is not None and len(code.group(1).strip().splitlines()) <= 11
    found: dict[str, Any] = {}
    exec(code.group(1), found)
    verify = found["verify"]
    body, now = b'{"id": "evt_a1", "type": "alert.accepted"}', int(time.time())
    assert verify(SECRET, signature(SECRET, body, now), body)
    assert not verify("another secret entirely", signature(SECRET, body, now), body)
    assert not verify(SECRET, signature(SECRET, body, now), body + b" ")
    assert not verify(SECRET, signature(SECRET, body, now - 3600), body)  # a replay


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ({"url": "ftp://x", "secret": "s" * 20}, "webhooks[0].url: an http:// or https:// URL"),
        ({"url": "http://x", "secret": "court"}, "webhooks[0].secret: at least 16 characters"),
        ({"url": "http://x", "secret": "s" * 20, "events": ["alert.sent"]},
         "webhooks[0].events[0]: unknown event 'alert.sent'"),
        ({"url": "http://x", "secret": "s" * 20, "retry_first": "soon"},
         "webhooks[0].retry_first: 'soon' is not a duration"),
    ],
)
def test_a_bad_webhook_setting_names_its_key_and_never_the_secret(
    hook: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"webhooks": [hook]})
    assert message in str(caught.value)
    assert "court" not in str(caught.value)
    twice = {"url": "http://x/", "secret": "s" * 20}
    with pytest.raises(ConfigError, match="given twice"):
        parse_config({"webhooks": [twice, twice]})


def test_a_webhook_gets_only_its_events_and_old_ones_are_purged(
    setup: tuple[Config, Database, WebhookConfig],
) -> None:
    config, db, _ = setup
    picky = WebhookConfig(url="http://127.0.0.1:9/", secret=SECRET,
                          events=["member.unsubscribed"])
    collect(db, picky)
    _two_opt_outs(config, db)
    collect(db, picky)
    kinds = {r["type"] for r in db.query("SELECT type FROM webhook_events")}
    assert kinds == {"member.unsubscribed"}
    event = head(db, picky)
    assert event is not None
    delivered(db, event, now=1.0)  # long ago
    purge(db, config.spool_dir / "incoming", config.retention)
    left = head(db, picky)
    assert left is not None and left.id != event.id  # the second, still queued, is kept
    assert [r["id"] for r in db.query("SELECT id FROM webhook_events")] == [left.id]


def test_a_problem_told_to_the_operators_is_told_to_webhooks_when_it_opens_and_closes(
    setup: tuple[Config, Database, WebhookConfig],
) -> None:
    _, db, hook = setup
    collect(db, hook)
    notices = Notices(db, Outbox(db), ["+33612345678"], notify_after=0.0)
    notices.condition("modem_gone", True, "le modem ne répond plus", immediate=True)
    notices.condition("modem_gone", False, "le modem ne répond plus")
    collect(db, hook)
    rows = db.query("SELECT type, body FROM webhook_events ORDER BY id")
    assert [r["type"] for r in rows] == ["problem.opened", "problem.closed"]
    assert json.loads(rows[0]["body"])["data"]["problem"] == "modem_gone"


def test_a_webhook_added_in_the_console_is_served_by_the_daemon_s_senders(
    setup: tuple[Config, Database, WebhookConfig],
) -> None:
    config, db, _ = setup
    config = dataclasses.replace(config, webhooks=[])
    make_users(db)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    pool = WebhookPool(config)
    pool.RELOOK = 0.1  # type: ignore[misc]
    pool.start()
    try:
        with serving(create_app(config, db)) as base, logged_in(base, "admin") as console:
            refused_form = console.post("/webhooks/ajouter",
                                        data={"csrf": csrf_of(console), "url": "ftp://x"})
            assert refused_form.status_code == 400 and "http://" in refused_form.text
            made = console.post("/webhooks/ajouter", data={
                "csrf": csrf_of(console), "url": url, "event": ["member.unsubscribed"],
            })
            assert made.status_code == 200, made.text
            found = re.search(r"<code>([\w-]{40,})</code>", made.text)
            assert found, made.text
            secret = found.group(1)
            assert secret not in console.get("/webhooks").text  # shown once
            receiver = Receiver(secret, port)
            receiver.start()
            try:
                wait_until(lambda: db.one("SELECT 1 FROM webhook_cursors WHERE webhook = ?",
                                          (url,)) is not None, 10, "the sender's first look")
                _two_opt_outs(config, db)
                wait_until(lambda: len(receiver.of("member.unsubscribed")) == 2, 10, "events")
                assert receiver.bad == []
                gone = console.post("/webhooks/supprimer",
                                    data={"csrf": csrf_of(console), "url": url})
                assert gone.status_code == 303
                wait_until(lambda: url not in pool.senders, 10, "the sender to stop")
            finally:
                receiver.stop()
    finally:
        pool.stop()
    trail = [e.event for e in entries(db) if e.actor == "web:admin"]
    assert "webhook_added" in trail and "webhook_removed" in trail
