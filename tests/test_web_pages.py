"""The console's actions over real HTTP, each checked in the database and the audit trail:
members edited, rejected, opted out and exported; users managed by an admin; a reply marked
handled; the banner when no daemon runs; the alert file's validation on its fields."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modemd.channels.base import InboundSms
from modemd.config import Config, InboundConfig, ModemConfig
from modemd.inbound.handler import Inbound
from modemd.members.registry import Registry
from modemd.operations.users import get_user
from modemd.pipeline.outbox import Outbox
from modemd.store.audit import entries
from modemd.store.db import Database, open_database
from modemd.web.app import create_app
from tests.web_support import csrf_of, logged_in, make_users, serving


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, Database, Config]]:
    config = Config(
        modem=ModemConfig(port="sim://"), spool_dir=tmp_path / "spool",
        state_dir=tmp_path / "state",
    )
    db = open_database(config.state_dir)
    make_users(db)
    with serving(create_app(config, db)) as base:
        yield base, db, config
    db.close()


def _sms(db: Database, config: Config, sender: str, text: str) -> None:
    Inbound(db, Outbox(db), Registry(db), InboundConfig(), config.spool_dir / "incoming").handle(
        InboundSms("modem", sender, text, time.time())
    )


def _web_events(db: Database, login: str) -> list[str]:
    return [e.event for e in entries(db) if e.actor == f"web:{login}" and e.client == "127.0.0.1"]


def test_members_edited_rejected_opted_out_and_exported(
    console: tuple[str, Database, Config],
) -> None:
    base, db, config = console
    registry = Registry(db)
    registry.add("+33611111111", name="Tabac Vieux Nom", commune="Aurillac", sector="tabac")
    _sms(db, config, "+33622222222", "ADHESION Garage du Lac Mauriac")
    with logged_in(base, "cci") as client:
        csrf = csrf_of(client)
        form = client.get("/membres", params={"modifier": "06 11 11 11 11"}).text
        assert 'value="Tabac Vieux Nom"' in form  # the edit form, filled in
        client.post("/membres/ajouter", data={"csrf": csrf, "phone": "+33611111111",
                                              "name": "Tabac Neuf", "commune": "Aurillac",
                                              "sector": "tabac"})
        member = registry.get("+33611111111")
        assert member is not None and member.name == "Tabac Neuf"
        assert "Garage du Lac" in client.get("/membres/demandes").text
        answer = client.post("/membres/rejeter", data={"csrf": csrf, "phone": "+33622222222"})
        assert answer.status_code == 303
        assert registry.get("+33622222222") is None
        again = client.post("/membres/rejeter", data={"csrf": csrf, "phone": "+33611111111"})
        assert again.status_code == 400 and "not pending" in again.text  # an active member
        client.post("/membres/desinscrire", data={"csrf": csrf, "phone": "+33611111111"})
        assert "+33611111111" in client.get("/membres/desinscriptions").text
        bad = client.post("/membres/ajouter", data={"csrf": csrf, "phone": "12"})
        assert bad.status_code == 400 and "class=\"error\"" in bad.text
        export = client.get("/membres/export.csv")
        assert export.headers["content-type"].startswith("text/csv")
        assert "Tabac Neuf" in export.content.decode("utf-8-sig")
    events = _web_events(db, "cci")
    assert events[-4:] == ["login", "member_updated", "member_rejected", "member_unsubscribed"]


def test_an_admin_manages_users_from_the_console(console: tuple[str, Database, Config]) -> None:
    base, db, _ = console
    with logged_in(base, "admin") as client:
        csrf = csrf_of(client)
        answer = client.post("/utilisateurs/ajouter", data={
            "csrf": csrf, "login": "gendarme", "role": "operateur",
            "password": "dix caracteres au moins",
        })
        assert answer.status_code == 303
        short = client.post("/utilisateurs/ajouter", data={
            "csrf": csrf, "login": "court", "role": "cci", "password": "court",
        })
        assert short.status_code == 400 and "at least 10" in short.text
        client.post("/utilisateurs/gendarme/role", data={"csrf": csrf, "role": "cci"})
        assert get_user(db, "gendarme").role == "cci"
        shown = client.post("/utilisateurs/gendarme/totp", data={"csrf": csrf})
        assert "otpauth://totp/modemd:gendarme?secret=" in shown.text
        assert get_user(db, "gendarme").totp
        assert "otpauth://" not in client.get("/utilisateurs").text  # shown once only
        client.post("/utilisateurs/gendarme/desactiver", data={"csrf": csrf})
        assert get_user(db, "gendarme").disabled
        mine = client.post("/utilisateurs/admin/desactiver", data={"csrf": csrf})
        assert mine.status_code == 400  # not one's own account
        client.post("/utilisateurs/gendarme/supprimer", data={"csrf": csrf})
        assert "gendarme" not in client.get("/utilisateurs").text
    events = _web_events(db, "admin")
    for event in ("user_added", "user_role_changed", "user_totp_set", "user_disabled",
                  "user_removed"):
        assert event in events


def test_a_reply_marked_handled_and_the_banner_without_a_daemon(
    console: tuple[str, Database, Config],
) -> None:
    base, db, config = console
    _sms(db, config, "+33633333333", "Deux individus suspects devant la pharmacie")
    with logged_in(base, "operateur") as client:
        page = client.get("/reponses").text
        assert "Deux individus suspects" in page
        assert "Le démon modemd ne tourne pas" in page
        reply = db.one("SELECT id FROM inbound WHERE kind = 'other'")
        assert reply is not None
        client.post(f"/reponses/{reply['id']}/traitee", data={"csrf": csrf_of(client)})
        assert "par web:operateur" in client.get("/reponses").text
    assert "reply_handled" in _web_events(db, "operateur")


def test_the_alert_form_gives_the_alert_files_errors_on_their_fields(
    console: tuple[str, Database, Config],
) -> None:
    base, db, _ = console
    Registry(db).add("+33644444444", commune="Aurillac")
    with logged_in(base, "operateur") as client:
        csrf = csrf_of(client)
        empty = client.post("/alertes/confirmer", data={"csrf": csrf, "message": ""})
        assert empty.status_code == 400
        assert 'data-for="message"' in empty.text and "&#39;message&#39; is empty" in empty.text
        nobody = client.post(
            "/alertes/confirmer", data={"csrf": csrf, "message": "x", "communes": "Brest"}
        )
        assert 'data-for="target"' in nobody.text and "matches no active member" in nobody.text
        long = client.post("/alertes/confirmer", data={"csrf": csrf, "message": "é" * 2000})
        assert long.status_code == 400 and 'data-for="message"' in long.text
        assert db.one("SELECT COUNT(*) AS n FROM alerts")["n"] == 0  # type: ignore[index]


def test_an_alert_sent_while_the_daemon_is_stopped_goes_out_when_it_starts(
    tmp_path: Path, make_sim: object
) -> None:
    """Console and daemon share only the database: the console accepts an alert with no
    daemon running; the daemon, started later, sends it; stopping the console loses nothing."""
    from modemd.testing import Harness

    sim = make_sim()  # type: ignore[operator]
    h = Harness(tmp_path, sim)
    h.members(3, commune="Aurillac")
    db = open_database(h.config.state_dir)
    make_users(db)
    with serving(create_app(h.config, db)) as base, logged_in(base, "operateur") as client:
        assert "Le démon modemd ne tourne pas" in client.get("/").text
        answer = client.post(
            "/alertes/envoyer",
            data={"csrf": csrf_of(client), "message": "Envoyée sans démon", "id": "sans-demon"},
        )
        assert answer.status_code == 303
    try:
        h.start()
        assert h.wait(lambda: h.alert_state(h.alerts()[0]["id"]) == "done", timeout=30)
        assert sorted(h.sent_to()) == sorted(m.phone for m in Registry(db).list("active"))
    finally:
        h.stop()
        db.close()


def test_an_admin_registers_and_locks_an_sms_sender(console: tuple[str, Database, Config]) -> None:
    from modemd.operations.senders import get_sender

    base, db, _ = console
    with logged_in(base, "admin") as client:
        csrf = csrf_of(client)
        added = client.post("/expediteurs/ajouter", data={
            "csrf": csrf, "phone": "06 11 11 00 00", "name": "CORG <Cantal>", "pin": "739164",
            "communes": "Aurillac, Murat",
        })  # fmt: skip
        assert added.status_code == 303
        shown = client.get("/expediteurs").text
        assert "CORG &lt;Cantal&gt;" in shown and "communes Aurillac, Murat" in shown
        assert "739164" not in shown
        bad = client.post("/expediteurs/ajouter", data={
            "csrf": csrf, "phone": "06 22 22 00 00", "name": "X", "pin": "12",
        })  # fmt: skip
        assert bad.status_code == 400 and "4 to 12 digits" in bad.text
        assert 'value="06 22 22 00 00"' in bad.text and 'value="12"' not in bad.text
        client.post("/expediteurs/bloquer", data={"csrf": csrf, "phone": "+33611110000"})
        sender = get_sender(db, "+33611110000")
        assert sender is not None and sender.locked
        client.post("/expediteurs/debloquer", data={"csrf": csrf, "phone": "+33611110000"})
        client.post("/expediteurs/supprimer", data={"csrf": csrf, "phone": "+33611110000"})
        assert get_sender(db, "+33611110000") is None
    events = _web_events(db, "admin")
    for event in ("sender_added", "sender_locked", "sender_unlocked", "sender_removed"):
        assert event in events
    assert all("739164" not in str(e.detail) for e in entries(db))
