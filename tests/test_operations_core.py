"""The operations called directly, as the web console and the API will call them: no CLI, no
files; typed results, structured errors with their field and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from modemd.config import Config, ModemConfig
from modemd.members.registry import Details, Registry
from modemd.operations import members
from modemd.operations.actor import SYSTEM, Actor
from modemd.operations.alerts import (
    alert_from_mapping,
    cancel_alert,
    check_alert,
    read_alert,
    show_alert,
    submit_alert,
)
from modemd.operations.errors import InvalidInput, NotFound
from modemd.store.db import Database, open_database

WEB = Actor("web", "marie", client="192.0.2.7")


@pytest.fixture
def site(tmp_path: Path) -> tuple[Config, Database]:
    config = Config(
        modem=ModemConfig(port="/dev/null"),
        spool_dir=tmp_path / "spool",
        state_dir=tmp_path / "state",
    )
    db = open_database(config.state_dir)
    registry = Registry(db)
    for i in range(3):
        registry.add(f"06 40 00 00 0{i}", name=f"Tabac {i}", commune="Aurillac", sector="tabac")
    return config, db


def test_actor_renders_as_the_spec_says() -> None:
    assert str(SYSTEM) == "system"
    assert str(WEB) == "web:marie"
    assert str(Actor("api", "t0k")) == "api:t0k"
    assert str(Actor.sms("+33612345678")) == "sms:+33612345678"
    assert str(Actor.cli()).startswith("cli:")


def test_submit_from_a_mapping_queues_it_and_is_idempotent_on_its_id(
    site: tuple[Config, Database],
) -> None:
    config, db = site
    request = alert_from_mapping(
        {"id": "vol-42", "message": "Vol à l'étalage rue Neuve", "category": "vol_etalage"},
        config,
    )
    first = submit_alert(config, db, request, WEB)
    assert (first.recipients, first.duplicate, first.daemon, first.woken) == (3, False, None, False)
    again = submit_alert(config, db, request, WEB)
    assert again.duplicate and again.alert_id == first.alert_id and again.key == "vol-42"
    detail = show_alert(db, first.alert_id)
    assert [d["state"] for d in detail["deliveries"]] == ["queued"] * 3
    row = db.one("SELECT actor, client FROM audit WHERE event = 'accepted'")
    assert row is not None and (row["actor"], row["client"]) == ("web:marie", "192.0.2.7")


def test_validation_errors_name_their_field_and_line(site: tuple[Config, Database]) -> None:
    config, _ = site
    with pytest.raises(InvalidInput) as missing:
        alert_from_mapping({"category": "vol_etalage"}, config)
    assert [(p.field, p.message) for p in missing.value.problems] == [
        ("message", "'message' is required")
    ]
    with pytest.raises(InvalidInput) as category:
        alert_from_mapping({"message": "x", "category": "nope"}, config)
    assert category.value.problems[0].field == "category"
    with pytest.raises(InvalidInput) as yaml_error:
        read_alert("a.yaml", b"message: ok\ncategory: [unclosed\n", config)
    problem = yaml_error.value.problems[0]
    assert problem.line is not None and problem.message.startswith("YAML error at line")


def test_check_says_what_would_go_and_sends_nothing(site: tuple[Config, Database]) -> None:
    config, db = site
    request = alert_from_mapping({"message": "Suspect 🚨 rue Neuve"}, config)
    check = check_alert(config, db, request)
    assert check.recipients == 3
    assert check.report["parts"] == 1 and check.report["sent"] is False
    assert check.report["lost_characters"] == ["🚨"]
    assert db.one("SELECT COUNT(*) AS n FROM alerts")["n"] == 0  # type: ignore[index]
    nobody = alert_from_mapping({"message": "x", "target": {"communes": ["Murat"]}}, config)
    with pytest.raises(InvalidInput) as exc:
        check_alert(config, db, nobody)
    assert exc.value.problems[0].field == "target"


def test_cancel_records_its_actor_and_is_said_once(site: tuple[Config, Database]) -> None:
    config, db = site
    submitted = submit_alert(config, db, alert_from_mapping({"message": "x"}, config), WEB)
    done = cancel_alert(db, submitted.alert_id, Actor("api", "t0k"))
    assert (done.cancelled, done.already) == (3, None)
    assert cancel_alert(db, submitted.alert_id, WEB).already == "cancelled"
    row = db.one("SELECT actor FROM audit WHERE event = 'cancelled'")
    assert row is not None and row["actor"] == "api:t0k"
    with pytest.raises(NotFound):
        cancel_alert(db, "nope", WEB)


def test_members_operations_with_structured_errors(
    site: tuple[Config, Database], tmp_path: Path
) -> None:
    config, db = site
    added = members.add_member(db, "06 12 34 56 78", Details("Boulangerie", "Murat", ""), WEB)
    assert (added.member.phone, added.outcome) == ("+33612345678", "added")
    with pytest.raises(InvalidInput) as bad:
        members.add_member(db, "12", Details("", "", ""), WEB)
    assert bad.value.problems[0].field == "phone"
    csv = tmp_path / "m.csv"
    csv.write_text("phone;name\n0655555555;Fleurs\nnot a number;Oops\n", encoding="utf-8")
    imported = members.import_members(db, csv, WEB)
    assert imported.report.added == 1
    assert [p.line for p in imported.problems] == [3]
    gone = members.unsubscribe(config, db, "+33612345678", WEB)
    assert gone.phone == "+33612345678" and gone.confirmed
    assert members.remove_member(db, "0655555555", WEB) == "+33655555555"
    with pytest.raises(NotFound):
        members.remove_member(db, "0655555555", WEB)
    events = [
        (r["event"], r["actor"])
        for r in db.query("SELECT event, actor FROM audit WHERE phone IS NOT NULL OR "
                          "event = 'members_imported' ORDER BY id")
    ]
    assert events == [
        ("member_added", "web:marie"),
        ("members_imported", "web:marie"),
        ("member_unsubscribed", "web:marie"),
        ("member_removed", "web:marie"),
    ]


@pytest.mark.parametrize("how", ["stop", "remove", "csv"])
def test_an_alert_whose_last_recipients_leave_is_done(
    site: tuple[Config, Database], tmp_path: Path, how: str
) -> None:
    """The remaining recipients of an alert say STOP, are removed or are marked as gone in
    the CCI's list: nothing is left to send, so the alert is done, not active for ever."""
    config, db = site
    submitted = submit_alert(config, db, alert_from_mapping({"message": "x"}, config), WEB)
    with db.transaction() as conn:  # two of the three already went out
        conn.execute(
            "UPDATE deliveries SET state = 'sent' WHERE alert_id = ? AND phone != ?",
            (submitted.alert_id, "+33640000002"),
        )
    if how == "stop":
        members.unsubscribe(config, db, "+33640000002", Actor.sms("+33640000002"))
    elif how == "remove":
        members.remove_member(db, "+33640000002", WEB)
    else:
        csv = tmp_path / "gone.csv"
        csv.write_text("phone;status\n0640000002;unsubscribed\n", encoding="utf-8")
        members.import_members(db, csv, WEB)
    alert = db.one("SELECT state FROM alerts WHERE id = ?", (submitted.alert_id,))
    assert alert is not None and alert["state"] == "done"
    assert db.one(
        "SELECT actor FROM audit WHERE event = 'done' AND alert_id = ?", (submitted.alert_id,)
    ) is not None


def test_a_key_reused_for_another_alert_is_refused_not_replayed(
    site: tuple[Config, Database],
) -> None:
    from modemd.operations.idempotency import submit_once

    config, db = site
    first = submit_once(config, db, {"message": "Vol rue Neuve"}, "crm-77", WEB)
    again = submit_once(config, db, {"message": "Vol rue Neuve"}, "crm-77", WEB)
    assert (first.status, again.replayed, again.body) == (201, True, first.body)
    with pytest.raises(InvalidInput) as reused:
        submit_once(config, db, {"message": "Braquage place du Marché"}, "crm-77", WEB)
    problem = reused.value.problems[0]
    assert problem.field == "Idempotency-Key" and first.body["alert_id"] in problem.message
    assert db.one("SELECT COUNT(*) AS n FROM alerts")["n"] == 1  # type: ignore[index]
