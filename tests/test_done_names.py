"""done/ keeps every file it was given: a repeat of an alert's `id` within the same second,
under the same name, gets a name of its own instead of replacing the first copy."""

from __future__ import annotations

from pathlib import Path

from modemd.config import AlertsConfig, Config, ModemConfig
from modemd.members.registry import Registry
from modemd.operations.actor import Actor
from modemd.operations.alerts import read_alert, submit_alert
from modemd.pipeline.outbox import Outbox
from modemd.pipeline.spool import Intake, Spool
from modemd.store.db import open_database

NOW = 1_796_000_000.0  # one fixed second for every drop


def test_repeats_in_one_second_each_keep_their_copy(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state")
    Registry(db).add("0640000000", commune="Aurillac")
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    intake = Intake(spool, Outbox(db), Registry(db), AlertsConfig(), clock=lambda: NOW)
    texts = [f"id: vol-7\nmessage: Vol rue Neuve, version {n}\n" for n in range(3)]
    for text in texts:
        (spool.outgoing / "vol.yaml").write_text(text, encoding="utf-8")
        outcome = intake.take(spool.outgoing / "vol.yaml")
        assert outcome is not None and outcome.kind in ("accepted", "duplicate")
    kept = sorted(p.read_text(encoding="utf-8") for p in spool.done.iterdir())
    assert kept == sorted(texts)
    assert all(p.suffix == ".yaml" for p in spool.done.iterdir())


def test_submitted_repeats_keep_their_copies_too(tmp_path: Path) -> None:
    config = Config(
        modem=ModemConfig(port="/dev/null"),
        spool_dir=tmp_path / "spool",
        state_dir=tmp_path / "state",
    )
    db = open_database(config.state_dir)
    Registry(db).add("0640000000")
    names = []
    for n in range(3):
        data = f"id: vol-8\nmessage: Vol, version {n}\n".encode()
        request = read_alert("vol.yaml", data, config)
        submitted = submit_alert(
            config, db, request, Actor.cli(), source_name="vol.yaml", source_data=data
        )
        names.append(submitted.done)
    assert len(set(names)) == 3
    assert len(list((config.spool_dir / "done").iterdir())) == 3
