"""The HTTP API end to end: ``modemd web`` and ``modemd run`` as separate processes on the
simulated modem, called by a real HTTP client with tokens made by ``modemd tokens``, and two
webhook receivers (real HTTP servers) that check every signature — one up all along, one
down until the last test, which must then get every event, in order, once per event id."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web_support import free_port, wait_until, web_process
from tests.webhook_support import Receiver

pytestmark = pytest.mark.timeout(120)
MODEMD = Path(sys.executable).with_name("modemd")
SECRET = "un secret partagé assez long"
LATE_SECRET = "un autre secret, pour le second"


@dataclass
class Stack:
    root: Path
    config: Path
    sim: subprocess.Popen[str]
    api: httpx.Client  # a token with every scope
    tokens: dict[str, str]
    hook: Receiver
    late: Receiver
    late_url: str

    def sms(self, number: str, text: str) -> None:
        assert self.sim.stdin is not None
        self.sim.stdin.write(f"sms {number} {text}\n")
        self.sim.stdin.flush()

    def modemd(self, *args: str) -> str:
        done = subprocess.run(
            [str(MODEMD), *args, "--config", str(self.config)],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=str(self.api.base_url), headers=headers, timeout=10)

    def db(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with sqlite3.connect(self.root / "state" / "modemd.db") as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("api")
    link = root / "ttyModem"
    sim = subprocess.Popen(
        [str(MODEMD), "sim", "--link", str(link), "--latency", "0.05"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    wait_until(link.exists, what="the simulator's pty")
    port, hook_port, late_port = free_port(), free_port(), free_port()
    late_url = f"http://127.0.0.1:{late_port}/late"
    config = root / "modemd.yaml"
    config.write_text(
        f"modem:\n  port: {link}\n  command_timeout: 5\n"
        f"spool_dir: {root}/spool\nstate_dir: {root}/state\nlog_level: WARNING\n"
        f"web:\n  listen: 127.0.0.1:{port}\n"
        "webhooks:\n"
        f"  - url: http://127.0.0.1:{hook_port}/hook\n    secret: {SECRET}\n"
        "    retry_first: 0.2s\n    retry_max: 1s\n"
        f"  - url: {late_url}\n    secret: {LATE_SECRET}\n"
        "    retry_first: 0.2s\n    retry_max: 0.5s\n    timeout: 2s\n",
        encoding="utf-8",
    )
    hook = Receiver(SECRET, hook_port)
    hook.start()
    late = Receiver(LATE_SECRET, late_port)  # not started: down until the last test
    tokens: dict[str, str] = {}
    base = f"http://127.0.0.1:{port}/api/v1"
    s = Stack(root, config, sim, httpx.Client(), tokens, hook, late, late_url)
    tokens["all"] = s.modemd(
        "tokens", "add", "crm", "--scope", "alerts:read,alerts:write,members:read",
        "--scope", "members:write", "--scope", "inbound:read", "--scope", "status:read",
    ).strip()
    tokens["status"] = s.modemd("tokens", "add", "supervision", "--scope", "status:read").strip()
    tokens["revoked"] = s.modemd("tokens", "add", "ancien", "--scope", "alerts:read").strip()
    s.modemd("tokens", "revoke", "ancien")
    for i in range(5):
        s.modemd("subscribers", "add", f"06 11 00 00 0{i}", "--name", f"Bijouterie {i}",
                 "--commune", "Aurillac", "--sector", "bijouterie")
    s.api = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {tokens['all']}"}, timeout=10
    )
    daemon = subprocess.Popen(
        [str(MODEMD), "run", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_until((root / "state" / "status.json").exists, 30, "the daemon")
        # Each webhook starts from the trail's end at its first look: wait for both.
        wait_until(lambda: len(s.db("SELECT * FROM webhook_cursors")) == 2, 20, "webhooks")
        with web_process(config, port):
            yield s
    finally:
        s.api.close()
        daemon.terminate()
        daemon.wait(20)
        hook.stop()
        late.stop()
        sim.terminate()
        sim.wait(10)
        if sim.stdin is not None:
            sim.stdin.close()


def _problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    doc: dict[str, Any] = answer.json()
    assert doc["status"] == status and doc["detail"]
    return doc


def test_missing_wrong_revoked_tokens_and_missing_scopes_are_refused(stack: Stack) -> None:
    for token in (None, "mdm_not-a-token", "not even the form", stack.tokens["revoked"]):
        with stack.client(token) as client:
            answer = client.get("/alerts")
            _problem(answer, 401)
            assert answer.headers["www-authenticate"].startswith("Bearer")
    with stack.client(stack.tokens["status"]) as client:
        assert client.get("/status").status_code == 200
        doc = _problem(client.post("/alerts", json={"message": "Vol"}), 403)
        assert "alerts:write" in doc["detail"]
        _problem(client.get("/members"), 403)
    listed = {t["name"]: t for t in json.loads(stack.modemd("tokens", "list", "--json"))}
    assert listed["supervision"]["last_used_at"] is not None
    assert listed["supervision"]["last_used_from"] == "127.0.0.1"
    assert listed["ancien"]["active"] is False and listed["ancien"]["last_used_at"] is None
    assert not any(stack.tokens["all"] in line for line in stack.modemd("tokens", "list"))


def test_bad_input_is_a_problem_naming_the_field(stack: Stack) -> None:
    doc = _problem(stack.api.post("/alerts", json={"message": "Vol", "category": "pillage"}), 422)
    assert doc["errors"][0]["field"] == "category"
    doc = _problem(stack.api.post("/alerts", json={"category": "cambriolage"}), 422)
    assert doc["errors"][0]["field"] == "message"
    doc = _problem(stack.api.post("/members", json={"phone": "04 71 00 00 00"}), 422)
    assert doc["errors"][0]["field"] == "phone"
    _problem(stack.api.get("/alerts/no-such-alert"), 404)


FIRST_FIELDS = {"message": "Vol à l'étalage, bijouterie rue des Carmes",
                "category": "vol_etalage", "target": {"communes": ["Aurillac"]},
                "issued_by": "CORG Cantal"}


def test_an_alert_raised_twice_with_one_key_followed_to_its_end(stack: Stack) -> None:
    fields = FIRST_FIELDS
    key = {"Idempotency-Key": "corg15-api-0001"}
    first = stack.api.post("/alerts", json=fields, headers=key)
    assert first.status_code == 201, first.text
    again = stack.api.post("/alerts", json=fields, headers=key)
    assert (again.status_code, again.json()) == (201, first.json())
    alert_id = first.json()["alert_id"]
    assert first.json()["recipients"] == 5
    assert [a for a in stack.api.get("/alerts").json() if a["alert_id"] == alert_id]
    same = stack.db("SELECT * FROM alerts WHERE idempotency_key = ?", (key["Idempotency-Key"],))
    assert len(same) == 1

    def done() -> bool:
        return bool(stack.api.get(f"/alerts/{alert_id}").json()["state"] == "done")

    wait_until(done, 60, "the alert to be sent")
    shown = stack.api.get(f"/alerts/{alert_id}").json()
    assert (shown["total"], shown["sent"], shown["key"]) == (5, 5, "corg15-api-0001")
    recipients = stack.api.get(f"/alerts/{alert_id}/recipients").json()
    assert {r["state"] for r in recipients} == {"sent"} and len(recipients) == 5
    # The webhook: accepted, then completed, each signed.
    wait_until(lambda: stack.hook.of("alert.completed", alert_id=alert_id), 20, "completed")
    mine = [e for e in stack.hook.seen() if e["data"].get("alert_id") == alert_id]
    kinds = [e["type"] for e in mine]
    assert kinds[0] == "alert.accepted" and kinds.count("alert.completed") == 1
    last_sent = max(i for i, e in enumerate(mine) if e["data"].get("state") == "sent")
    assert kinds.index("alert.completed") > last_sent  # completed after the last SMS sent
    updates = [e["data"] for e in stack.hook.of("delivery.updated", alert_id=alert_id)]
    assert len([u for u in updates if u.get("state") == "sent"]) == 5
    # The simulator acknowledges each SMS with a delivery report: each comes as an update.
    wait_until(lambda: len([e for e in stack.hook.of("delivery.updated", alert_id=alert_id)
                            if e["data"].get("report") == "delivered"]) == 5, 30, "reports")
    assert stack.hook.of("alert.completed", alert_id=alert_id)[0]["data"]["state"] == "done"
    assert stack.hook.bad == []
    # Who did it: the token's name and the client's address.
    trail = json.loads(stack.modemd("audit", "--actor", "api:", "--json"))
    accepted = [e for e in trail if e["event"] == "accepted" and e["alert_id"] == alert_id]
    assert accepted and accepted[0]["actor"] == "api:crm"
    assert accepted[0]["client"] == "127.0.0.1"


def test_the_same_key_in_a_new_api_process_gets_the_first_answer(stack: Stack) -> None:
    # Another `modemd web`, started after the first call, on the same database: the stored
    # answer is what a restarted console gives.
    port = free_port()
    other = stack.root / "other.yaml"
    other.write_text(
        stack.config.read_text(encoding="utf-8").replace(
            str(stack.api.base_url.port), str(port)
        ),
        encoding="utf-8",
    )
    with web_process(other, port), httpx.Client(
        base_url=f"http://127.0.0.1:{port}/api/v1",
        headers={"Authorization": f"Bearer {stack.tokens['all']}"}, timeout=10,
    ) as fresh:
        answer = fresh.post("/alerts", json=FIRST_FIELDS,
                            headers={"Idempotency-Key": "corg15-api-0001"})
        # The same key for another alert: refused, naming the alert it was used for.
        reused = fresh.post("/alerts", json={"message": "autre"},
                            headers={"Idempotency-Key": "corg15-api-0001"})
    assert answer.status_code == 201 and answer.json()["recipients"] == 5
    assert answer.json()["state"] == "accepted"
    assert reused.status_code == 422, reused.text
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"
    by_id = stack.api.post("/alerts", json={"message": "Vol", "id": "corg15-api-0002",
                                            "target": {"sectors": ["bijouterie"]}})
    assert by_id.status_code == 201
    repeat = stack.api.post("/alerts", json={"message": "Vol", "id": "corg15-api-0002",
                                             "target": {"sectors": ["bijouterie"]}})
    assert repeat.json() == by_id.json()
    stack.api.post(f"/alerts/{by_id.json()['alert_id']}/cancel")


def test_import_members_then_cancel_an_alert_in_progress(stack: Stack) -> None:
    rows = "\n".join(f"06 22 00 00 {i:02d};Tabac {i};Saint-Flour;tabac" for i in range(30))
    csv = f"phone;name;commune;sector\n{rows}\n06 22 pas un numéro;X;Saint-Flour;tabac\n"
    answer = stack.api.post("/members/import", content=csv.encode("cp1252"),
                            headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["added"], report["skipped"]) == (30, 1)
    assert report["problems"][0]["line"] == 32
    page = stack.api.get("/members", params={"commune": "Saint-Flour"}).json()
    assert page["total"] == 30
    raised = stack.api.post("/alerts", json={"message": "Faux billets de 50 €",
                                             "target": {"communes": ["Saint-Flour"]}}).json()
    cancelled = stack.api.post(f"/alerts/{raised['alert_id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancelled"] > 0
    shown = stack.api.get(f"/alerts/{raised['alert_id']}").json()
    assert shown["state"] == "cancelled" and shown["cancelled"] > 0
    again = stack.api.post(f"/alerts/{raised['alert_id']}/cancel").json()
    assert again["already"] == "cancelled"
    wait_until(lambda: stack.hook.of("alert.completed", alert_id=raised["alert_id"]), 20,
               "the cancelled alert's event")


def test_members_crud_and_a_join_request_approved(stack: Stack) -> None:
    added = stack.api.post("/members", json={"phone": "06 33 00 00 01", "name": "Tabac Presse",
                                             "commune": "Arpajon-sur-Cère"})
    assert added.status_code == 201 and added.json()["member"]["phone"] == "+33633000001"
    assert stack.api.get("/members/0633000001").json()["name"] == "Tabac Presse"
    patched = stack.api.patch("/members/+33633000001", json={"sector": "tabac"})
    assert patched.json()["member"]["sector"] == "tabac"
    assert patched.json()["member"]["name"] == "Tabac Presse"
    assert stack.api.delete("/members/0633000001").status_code == 204
    _problem(stack.api.get("/members/0633000001"), 404)
    _problem(stack.api.patch("/members/0633000001", json={"unknown": 1}), 422)
    stack.sms("+33644556677", "ADHESION Boulangerie Dupont Aurillac")
    wait_until(lambda: stack.hook.of("member.join_requested", phone="+33644556677"), 30,
               "the join request's event")
    pending = stack.api.get("/members", params={"status": "pending"}).json()["members"]
    assert [m["phone"] for m in pending] == ["+33644556677"]
    approved = stack.api.post("/members/+33644556677/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["member"]["status"] == "active"


def test_stop_and_a_free_text_reply_reach_the_webhook_and_the_inbound_list(
    stack: Stack,
) -> None:
    stack.sms("+33611000003", "STOP")
    wait_until(lambda: stack.hook.of("member.unsubscribed", phone="+33611000003"), 30, "STOP")
    assert stack.api.get("/members/+33611000003").json()["status"] == "unsubscribed"
    stack.sms("+33611000001", "J'ai vu la voiture noire partir vers Arpajon")
    wait_until(lambda: stack.hook.of("inbound.received", kind="other"), 30, "the reply")
    inbound = stack.api.get("/inbound", params={"kind": "other"}).json()
    assert inbound[-1]["text"] == "J'ai vu la voiture noire partir vers Arpajon"
    assert inbound[-1]["name"] == "Bijouterie 1"
    after = stack.api.get("/inbound", params={"after": inbound[-1]["id"]}).json()
    assert after == []
    assert stack.api.get("/status").json()["running"] is True


def test_a_receiver_down_then_back_gets_every_event_in_order_once(stack: Stack) -> None:
    def queued() -> list[sqlite3.Row]:
        return stack.db("SELECT event_id, state, attempts FROM webhook_events "
                        "WHERE webhook = ? ORDER BY id", (stack.late_url,))

    # Down: its events wait, retried with backoff, none lost while the other is served.
    wait_until(lambda: queued() and queued()[0]["attempts"] >= 2, 30, "retries")
    assert {r["state"] for r in queued()} == {"queued"}
    stack.late.start()
    wait_until(lambda: {r["state"] for r in queued()} == {"delivered"}, 60, "the late receiver")
    got = [e["id"] for e in stack.late.seen()]
    assert got == [r["event_id"] for r in queued()]  # in order, each once
    assert len(set(got)) == len(got)
    assert set(got) == {e["id"] for e in stack.hook.seen()}  # the same events as the other
    assert stack.late.bad == [] and stack.hook.bad == []
    assert len(stack.hook.seen()) == len({e["id"] for e in stack.hook.seen()})
