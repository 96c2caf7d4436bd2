"""Alerts by SMS from a registered number, end to end on the simulated modem: ALERTE with the
PIN, a preview and a one-time code to the registered number only, OUI sends; forged senders,
wrong PINs, expired codes, cancellation and scope; the PIN nowhere in clear."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import InboundConfig
from modemd.operations.actor import Actor
from modemd.operations.senders import Scope, add_sender
from modemd.sim.pty import PtySimulator
from modemd.store.db import Database, open_database
from modemd.testing import Harness

MakeSim = Callable[..., PtySimulator]

PIN = "739164"
DESK = "+33611110000"  # the registered duty desk
OPERATOR = "+33699000001"
STRANGER = "+33622220000"
MESSAGE = "Vol à main armée rue Neuve, 2 individus en scooter noir, fuite vers le centre."


@pytest.fixture
def site(tmp_path: Path, make_sim: MakeSim) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(latency: float = 0.01, scope: Scope | None = None) -> Harness:
        sim = make_sim("generic", send_latency=latency)
        h = Harness(
            tmp_path / f"site{len(made)}",
            sim,
            inbound=InboundConfig(operator_numbers=[OPERATOR]),
        )
        db = open_database(h.config.state_dir)
        add_sender(db, DESK, "CORG Cantal", PIN, scope or Scope(), Actor("cli", "admin"))
        db.close()
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


def said_to(h: Harness, number: str) -> list[str]:
    """Each whole SMS the network carried to ``number``, its parts joined."""
    texts: list[str] = []
    for s in h.sim.sent():
        if s.recipient != number:
            continue
        if s.concat is None or s.concat.sequence == 1:
            texts.append(s.text)
        else:
            texts[-1] += s.text
    return texts


def answer_with(h: Harness, words: str, count: int = 1) -> str:
    """Wait for the desk's ``count``-th answer saying ``words`` and return it."""
    found: list[str] = []

    def arrived() -> bool:
        found[:] = [t for t in said_to(h, DESK) if words in t]
        return len(found) >= count

    assert h.wait(arrived, timeout=20), said_to(h, DESK)
    return found[count - 1]


def code_in(preview: str) -> str:
    match = re.search(r"Répondez OUI (\d{4})", preview)
    assert match, preview
    return match.group(1)


def alerts_to(h: Harness) -> list[str]:
    """The members the alert went to (the desk's preview starts the same way: not counted)."""
    return [
        s.recipient
        for s in h.sim.sent()
        if s.text.startswith("ALERTE COMMERCE") and s.recipient != DESK
    ]


def test_alerte_preview_oui_sends_and_the_officer_is_told_the_end(
    site: Callable[..., Harness],
) -> None:
    h = site()
    aurillac = h.members(3, commune="Aurillac", sector="tabac")
    h.members(2, commune="Murat")
    h.start()
    h.sim.inject_sms(DESK, f"Alerte {PIN}\n@Aurillac #tabac\n{MESSAGE}")
    preview = answer_with(h, "Répondez OUI")
    # Exactly what members will read, and how many will get it.
    assert preview.startswith("ALERTE COMMERCE") and "Vol à main armée rue Neuve" in preview
    assert "3 commerces" in preview and "NON pour abandonner (10 min)" in preview
    assert alerts_to(h) == []  # nothing goes before the code comes back
    h.sim.inject_sms(DESK, f"oui {code_in(preview)}")
    started = answer_with(h, "en cours")
    assert re.fullmatch(r"Alerte \d{6}-\d+ en cours: 3 destinataires\.", started), started
    assert h.wait(lambda: sorted(alerts_to(h)) == sorted(aurillac))
    end = answer_with(h, "terminée")
    assert "3/3 envoyés" in end
    db = open_database(h.config.state_dir)
    row = db.one("SELECT actor FROM audit WHERE event = 'accepted'")
    assert row is not None and row["actor"] == "sms:CORG Cantal"
    issued = db.one("SELECT issued_by FROM alerts WHERE kind = 'alert'")
    assert issued is not None and issued["issued_by"] == "CORG Cantal"


def test_a_forged_sender_sends_nothing(site: Callable[..., Harness]) -> None:
    h = site()
    h.members(3, commune="Aurillac")
    h.start()
    h.sim.inject_sms(DESK, f"ALERTE {PIN} {MESSAGE}")
    code = code_in(answer_with(h, "Répondez OUI"))
    # The right code from another number: ordinary inbound, and that number learns nothing.
    h.sim.inject_sms(STRANGER, f"OUI {code}")
    assert h.wait(lambda: len(h.folder("incoming")) == 1)
    # The registered number (as a forger would make it appear) without the code.
    wrong = "0000" if code != "0000" else "0001"
    h.sim.inject_sms(DESK, f"OUI {wrong}")
    assert "code incorrect" in answer_with(h, "Refusé")
    assert alerts_to(h) == [] and said_to(h, STRANGER) == []
    # The genuine officer's code still works, once.
    h.sim.inject_sms(DESK, f"OUI {code}")
    answer_with(h, "en cours")
    assert h.wait(lambda: len(alerts_to(h)) == 3)
    h.sim.inject_sms(DESK, f"OUI {code}")  # used: nothing more, no second alert
    answer_with(h, "déjà confirmée")
    db = open_database(h.config.state_dir)
    assert db.one("SELECT COUNT(*) AS n FROM alerts WHERE kind = 'alert'")["n"] == 1  # type: ignore[index]


def test_three_wrong_pins_lock_the_sender_and_tell_the_operators(
    site: Callable[..., Harness],
) -> None:
    h = site()
    h.members(2, commune="Aurillac")
    h.start()
    for n in range(3):
        h.sim.inject_sms(DESK, f"ALERTE 11111{n} {MESSAGE}")
        answer_with(h, "PIN incorrect", count=n + 1)
    assert "bloqué 1 h" in answer_with(h, "PIN incorrect", count=3)
    assert h.wait(lambda: any("CORG Cantal" in t and "bloqué" in t for t in said_to(h, OPERATOR)))
    h.sim.inject_sms(DESK, f"ALERTE {PIN} {MESSAGE}")  # the right PIN, now too late
    answer_with(h, "numéro bloqué jusqu'à")
    assert alerts_to(h) == [] and not any("Répondez OUI" in t for t in said_to(h, DESK))
    h.clock.advance(3601)  # an hour later it works again
    h.sim.inject_sms(DESK, f"ALERTE {PIN} {MESSAGE}")
    answer_with(h, "Répondez OUI")


def test_an_unregistered_alerte_is_an_ordinary_reply_with_no_hint(
    site: Callable[..., Harness],
) -> None:
    h = site()
    h.members(2, commune="Aurillac")
    h.start()
    h.sim.inject_sms(STRANGER, f"ALERTE 1234 {MESSAGE}")
    assert h.wait(lambda: len(h.folder("incoming")) == 1)
    assert h.wait(lambda: any("SMS de " + STRANGER in t for t in said_to(h, OPERATOR)))
    assert said_to(h, STRANGER) == [] and alerts_to(h) == []


def test_an_expired_code_does_nothing(site: Callable[..., Harness]) -> None:
    h = site()
    h.members(2, commune="Aurillac")
    h.start()
    h.sim.inject_sms(DESK, f"ALERTE {PIN} {MESSAGE}")
    code = code_in(answer_with(h, "Répondez OUI"))
    h.clock.advance(11 * 60)
    h.sim.inject_sms(DESK, f"OUI {code}")
    assert "code expiré" in answer_with(h, "Refusé")
    assert alerts_to(h) == []


def test_annuler_mid_fan_out_stops_what_is_unsent(site: Callable[..., Harness]) -> None:
    h = site(latency=0.05)
    h.members(40, commune="Aurillac")
    h.start()
    h.sim.inject_sms(DESK, f"ALERTE {PIN} {MESSAGE}")
    h.sim.inject_sms(DESK, f"OUI {code_in(answer_with(h, 'Répondez OUI'))}")
    alert_id = answer_with(h, "en cours").split()[1]
    assert h.wait(lambda: len(alerts_to(h)) >= 2)
    h.sim.inject_sms(DESK, f"ANNULER {alert_id}")
    asked = answer_with(h, "pour annuler")
    h.sim.inject_sms(DESK, f"OUI {code_in(asked)}")
    assert f"Alerte {alert_id} annulée" in answer_with(h, "annulée:")
    assert h.alert_state(alert_id) == "cancelled"
    sent = len(alerts_to(h))
    assert sent < 40
    h.sim.inject_sms(DESK, f"ETAT {alert_id}")
    assert f"{sent}/40 envoyés" in answer_with(h, "annulée: ", count=2)


def test_a_target_outside_the_senders_scope_is_refused_with_a_reason(
    site: Callable[..., Harness],
) -> None:
    h = site(scope=Scope(communes=("Aurillac",)))
    h.members(2, commune="Murat")
    h.start()
    h.sim.inject_sms(DESK, f"ALERTE {PIN} @Murat {MESSAGE}")
    assert "commune hors de votre périmètre: Murat" in answer_with(h, "Refusé")
    h.sim.inject_sms(DESK, f"ALERTE {PIN} {MESSAGE}")  # no commune: the scope must be said
    assert "précisez les communes (@Aurillac)" in answer_with(h, "Refusé", count=2)
    assert alerts_to(h) == []


def test_the_pin_is_nowhere_in_clear(
    site: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = site()
    h.members(2, commune="Aurillac")
    h.start()
    h.sim.inject_sms(DESK, f"ALERTE {PIN} {MESSAGE}")
    code = code_in(answer_with(h, "Répondez OUI"))
    h.sim.inject_sms(DESK, f"ALERTE 999999 {MESSAGE}")  # a wrong one, kept masked too
    answer_with(h, "PIN incorrect")
    h.sim.inject_sms(STRANGER, f"ALERTE {PIN} essai")  # a stranger who knows it: to incoming/
    assert h.wait(lambda: len(h.folder("incoming")) == 1)
    h.sim.inject_sms(DESK, f"OUI {code}")
    answer_with(h, "terminée")
    h.stop()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert PIN not in logs and f"OUI {code}" not in logs
    db = open_database(h.config.state_dir)
    dump = "\n".join(str(tuple(r)) for t in _tables(db) for r in db.query(f"SELECT * FROM {t}"))
    assert f"ALERTE {PIN}" not in dump and "ALERTE **** " in dump
    assert "999999" not in dump
    audit_rows = "\n".join(str(tuple(r)) for r in db.query("SELECT * FROM audit"))
    assert PIN not in audit_rows
    files = [p for p in h.config.state_dir.rglob("*") if p.is_file() and p.suffix != ".db"]
    files += [p for p in h.config.spool_dir.rglob("*") if p.is_file()]
    for path in files:
        assert PIN not in path.read_bytes().decode("utf-8", "replace"), path
    incoming = (h.config.spool_dir / "incoming").iterdir()
    assert all(PIN not in p.read_text(encoding="utf-8") for p in incoming)


def _tables(db: Database) -> list[str]:
    return [r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")]


def test_senders_from_the_cli_with_the_pin_on_stdin(tmp_path: Path) -> None:
    import getpass
    import json
    import subprocess
    import sys

    config = tmp_path / "modemd.yaml"
    config.write_text(
        "modem: {port: 'sim://generic'}\n"
        f"spool_dir: {tmp_path / 'spool'}\nstate_dir: {tmp_path / 'state'}\n"
    )

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modemd", *args, "--config", str(config)],
            input=stdin, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    added = cli(
        "senders", "add", "06 11 11 00 00", "--name", "CORG Cantal", "--communes",
        "Aurillac,Murat", "--pin-stdin", stdin=f"{PIN}\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "+33611110000 registered as CORG Cantal (communes Aurillac, Murat)" in added.stdout
    again = cli("senders", "add", "0611110000", "--name", "X", "--pin-stdin", stdin=f"{PIN}\n")
    assert again.returncode == 2 and "already a registered sender" in again.stderr
    short = cli("senders", "add", "0622220000", "--name", "Y", "--pin-stdin", stdin="12\n")
    assert short.returncode == 2 and "4 to 12 digits" in short.stderr
    no_tty = cli("senders", "add", "0622220000", "--name", "Y")
    assert no_tty.returncode == 2 and "--pin-stdin" in no_tty.stderr
    assert cli("senders", "lock", "0611110000").returncode == 0
    listed = json.loads(cli("senders", "list", "--json").stdout)
    assert [(s["phone"], s["locked"]) for s in listed] == [("+33611110000", True)]
    assert cli("senders", "unlock", "0611110000").returncode == 0
    assert "LOCKED" not in cli("senders", "list").stdout
    assert cli("senders", "remove", "0611110000").returncode == 0
    assert cli("senders", "remove", "0611110000").returncode == 2
    trail = json.loads(cli("audit", "--json").stdout)
    user = f"cli:{getpass.getuser()}"
    assert [(e["event"], e["actor"]) for e in trail] == [
        ("sender_added", user),
        ("sender_locked", user),
        ("sender_unlocked", user),
        ("sender_removed", user),
    ]
    for stored in (tmp_path / "state").glob("modemd.db*"):  # the database and its WAL
        assert PIN.encode() not in stored.read_bytes(), stored


def test_the_grammar_reads_targets_and_masks_secrets() -> None:
    from modemd.sms_commands.grammar import mask, read_command

    first_line = read_command("Alerte 739164\n@Aurillac,Arpajon-sur-Cère #tabac !vol_etalage\nVol")
    assert first_line is not None
    assert (first_line.communes, first_line.sectors, first_line.category) == (
        ("Aurillac", "Arpajon-sur-Cère"), ("tabac",), "vol_etalage",
    )  # fmt: skip
    assert first_line.message == "Vol" and first_line.secret == "739164"
    words = read_command("ALERTE 739164 @Murat Faux billets de 50 €")
    assert words is not None and words.communes == ("Murat",)
    assert words.message == "Faux billets de 50 €"
    assert mask("alerte 739164 Vol rue Neuve") == "alerte **** Vol rue Neuve"
    assert mask("Oui. 4821") == "Oui ****"
    assert mask("Merci pour l'alerte") == "Merci pour l'alerte"
    assert read_command("ÉTAT 261202-3") is not None
    assert read_command("Bonjour") is None


def test_senders_operations_say_which_field_is_wrong(tmp_path: Path) -> None:
    from modemd.operations.errors import InvalidInput

    db = open_database(tmp_path)
    with pytest.raises(InvalidInput) as bad:
        add_sender(db, "36180", "", "12", Scope(categories=("nope",)), Actor("web", "marie"))
    assert [p.field for p in bad.value.problems] == ["phone", "name", "pin", "categories"]
    sender = add_sender(db, "0611110000", "CORG", PIN, Scope(), Actor("web", "marie"))
    row = db.one("SELECT actor, phone FROM audit WHERE event = 'sender_added'")
    assert row is not None and (row["actor"], row["phone"]) == ("web:marie", sender.phone)


def test_retention_blanks_old_sms_requests(tmp_path: Path) -> None:
    from modemd.config import Config, ModemConfig, RetentionConfig
    from modemd.operations import sms_requests
    from modemd.service.retention import purge

    config = Config(
        modem=ModemConfig(port="/dev/null"), spool_dir=tmp_path / "spool",
        state_dir=tmp_path / "state",
    )  # fmt: skip
    db = open_database(config.state_dir)
    from modemd.members.registry import Registry

    Registry(db).add("0640000000")
    sender = add_sender(db, DESK, "CORG", PIN, Scope(), Actor("cli", "admin"))
    sms_requests.request_alert(config, db, sender, {"message": "Vol rue Neuve"}, now=1000.0)
    sms_requests.abandon(db, sender, now=1001.0)
    purge(db, tmp_path / "incoming", RetentionConfig(message_days=1), now=1000.0 + 2 * 86400)
    row = db.one("SELECT fields FROM sms_requests")
    assert row is not None and row["fields"] == "{}"
