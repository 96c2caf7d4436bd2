"""Alert files, targeting and the spool's crash-split guarantee, without a modem."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from modemd.config import AlertsConfig
from modemd.members.registry import Registry, Target, fold
from modemd.pipeline.alerts import AlertFileError, is_alert_name, parse_alert
from modemd.pipeline.outbox import Outbox
from modemd.pipeline.spool import Intake, Spool
from modemd.store.db import open_database

CONFIG = AlertsConfig()


def test_defaults_from_config() -> None:
    request = parse_alert("a.yaml", b"message: Faux billets\n", CONFIG)
    assert request.priority == "urgent" and request.category == "autre"
    assert request.advice == CONFIG.default_advice
    assert request.expires_after == 6 * 3600
    assert request.target.everyone
    assert request.composition.text.startswith("ALERTE COMMERCE - Alerte\nFaux billets\n")


def test_txt_from_notepad_in_windows_1252() -> None:
    request = parse_alert("a.txt", "Escroquerie au faux RIB à Aurillac €".encode("cp1252"), CONFIG)
    assert "Escroquerie au faux RIB à Aurillac €" in request.composition.text


def test_utf8_bom_is_ignored() -> None:
    request = parse_alert("a.yaml", "\ufeffmessage: Été\n".encode(), CONFIG)
    assert request.message == "Été"


def test_transliteration_keeps_one_part() -> None:
    message = "Individu au comportement suspect près de l’hôtel de ville « Le Dauphin » … "
    request = parse_alert("a.yaml", f'message: "{message}"\n'.encode(), CONFIG)
    assert request.composition.encoding.value == "gsm7"
    assert "l'hotel" in request.composition.text and '"Le Dauphin"' in request.composition.text


def test_ucs2_when_transliteration_is_off() -> None:
    config = AlertsConfig(transliterate=False)
    request = parse_alert("a.yaml", "message: l’hôtel\n".encode(), config)
    assert request.composition.encoding.value == "ucs2"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("message: x\nid: 'bad id with spaces'\n", "'id'"),
        ("message: x\ntarget: {cities: [A]}\n", "unknown key 'target.cities'"),
        ("message: x\ntarget: [Aurillac]\n", "'target' must have"),
        ("message: '   '\n", "'message' is empty"),
    ],
)
def test_more_rejections(content: str, reason: str) -> None:
    with pytest.raises(AlertFileError, match=reason.replace("(", r"\(")):
        parse_alert("a.yaml", content.encode(), CONFIG)


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("a.yaml", True),
        ("a.YML", True),
        ("a.txt", True),
        (".a.yaml", False),
        ("a.yaml.tmp", False),
        ("a.part", False),
        ("a.yaml~", False),
        ("a.doc", False),
    ],
)
def test_names(name: str, taken: bool) -> None:
    assert is_alert_name(name) is taken


def test_fold_and_targeting(tmp_path: Path) -> None:
    assert fold("Arpajon-sur-Cère") == fold("arpajon sur cere") == "arpajon sur cere"
    assert fold("L'Haÿ-les-Roses") == "l hay les roses"
    registry = Registry(open_database(tmp_path))
    registry.add("06 12 34 56 78", commune="Arpajon-sur-Cère", sector="Boulangerie")
    registry.add("06 12 34 56 79", commune="Aurillac", sector="tabac")
    registry.add("06 12 34 56 80", commune="Aurillac", sector="bijouterie", status="pending")
    found = registry.targeted(Target(communes=("ARPAJON SUR CERE", "aurillac")))
    assert [s.phone for s in found] == ["+33612345678", "+33612345679"]
    found = registry.targeted(Target(communes=("Aurillac",), sectors=("Tabac",)))
    assert [s.phone for s in found] == ["+33612345679"]


def test_crash_between_commit_and_move_is_finished_not_repeated(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state")
    registry = Registry(db)
    registry.add("06 12 34 56 78")
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    outbox = Outbox(db)
    intake = Intake(spool, outbox, registry, CONFIG)
    data = b"message: Vol de carburant\n"
    path = spool.outgoing / "a.yaml"
    path.write_bytes(data)
    # The commit happened, then the process died before the rename:
    request = parse_alert("a.yaml", data, CONFIG)
    outbox.accept(
        request,
        registry.targeted(request.target),
        source_name="a.yaml",
        source_sha256=hashlib.sha256(data).hexdigest(),
    )
    outcome = intake.take(path)
    assert outcome is not None and outcome.kind == "finished"
    assert not path.exists() and len(list(spool.done.iterdir())) == 1
    assert len(db.query("SELECT id FROM alerts")) == 1
    # The same content dropped again later is a new alert (its first copy is in done/).
    path.write_bytes(data)
    outcome = intake.take(path)
    assert outcome is not None and outcome.kind == "accepted"
    assert len(db.query("SELECT id FROM alerts")) == 2


def test_identical_file_dropped_again_after_done_was_cleaned_is_a_new_alert(
    tmp_path: Path,
) -> None:
    db = open_database(tmp_path / "state")
    registry = Registry(db)
    registry.add("06 12 34 56 78")
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    intake = Intake(spool, Outbox(db), registry, CONFIG)
    data = b"message: Vol de carburant\n"
    path = spool.outgoing / "a.yaml"
    path.write_bytes(data)
    first = intake.take(path)
    assert first is not None and first.kind == "accepted"
    for done in spool.done.iterdir():
        done.unlink()  # an administrator cleans done/
    path.write_bytes(data)
    later = time.time() + 60
    os.utime(path, (later, later))  # written after the first alert was accepted
    again = intake.take(path)
    assert again is not None and again.kind == "accepted"
    assert len(db.query("SELECT id FROM alerts")) == 2
