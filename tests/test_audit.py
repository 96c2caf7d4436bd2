"""Who did what: the audit trail names each change's actor, cannot be rewritten, and is
shown by `modemd audit`; an alert submitted through the operations wakes the running daemon,
and another process sees the live state change within 1 s."""

from __future__ import annotations

import getpass
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import AlertsConfig, Config, ModemConfig
from modemd.members.registry import Registry
from modemd.operations.actor import Actor
from modemd.operations.alerts import alert_from_mapping, submit_alert
from modemd.pipeline.outbox import Outbox
from modemd.pipeline.spool import Intake, Spool
from modemd.sim.pty import PtySimulator
from modemd.store.db import open_database
from modemd.testing import Harness
from tests.trial_support import run_modemd


def test_the_trail_is_append_only(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    with db.transaction() as conn:
        conn.execute("INSERT INTO audit (at, event) VALUES (1, 'x')")
    row = db.one("SELECT actor FROM audit")
    assert row is not None and row["actor"] == "system"  # the default for older writers
    for sql in ("UPDATE audit SET event = 'y'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"), db.transaction() as c:
            c.execute(sql)
    assert db.one("SELECT COUNT(*) AS n FROM audit")["n"] == 1  # type: ignore[index]


def test_a_spool_file_is_accepted_by_system(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state")
    Registry(db).add("0640000000", commune="Aurillac")
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    (spool.outgoing / "a.txt").write_text("Vol rue Neuve")
    intake = Intake(spool, Outbox(db), Registry(db), AlertsConfig())
    outcome = intake.take(spool.outgoing / "a.txt")
    assert outcome is not None and outcome.kind == "accepted"
    row = db.one("SELECT actor FROM audit WHERE event = 'accepted'")
    assert row is not None and row["actor"] == "system"


def test_a_cli_action_is_recorded_as_the_unix_user_and_shown(tmp_path: Path) -> None:
    config = tmp_path / "modemd.yaml"
    config.write_text(
        "modem: {port: 'sim://generic'}\n"
        f"spool_dir: {tmp_path / 'spool'}\nstate_dir: {tmp_path / 'state'}\n"
    )
    assert (
        run_modemd(config, "subscribers", "add", "0612345678", "--commune", "Murat").returncode == 0
    )
    assert run_modemd(config, "subscribers", "remove", "0612345678").returncode == 0
    shown = run_modemd(config, "audit", "--actor", "cli:", "--json")
    assert shown.returncode == 0, shown.stderr
    entries = [(e["event"], e["actor"], e["phone"]) for e in json.loads(shown.stdout)]
    user = f"cli:{getpass.getuser()}"
    assert entries == [
        ("member_added", user, "+33612345678"),
        ("member_removed", user, "+33612345678"),
    ]
    text = run_modemd(config, "audit", "--since", "1h")
    assert text.returncode == 0 and f"{user}  member_removed +33612345678" in text.stdout
    assert run_modemd(config, "audit", "--actor", "sms:").stdout.strip() == (
        "nothing recorded for these criteria"
    )
    bad = run_modemd(config, "audit", "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr


@pytest.fixture
def harness(tmp_path: Path, make_sim: Callable[..., PtySimulator]) -> Iterator[Harness]:
    h = Harness(tmp_path, make_sim("generic"))
    yield h
    h.stop()


def test_a_stop_by_sms_is_recorded_as_its_sender(harness: Harness) -> None:
    (phone,) = harness.members(1)
    harness.start()
    harness.sim.inject_sms(phone, "STOP")
    db = open_database(harness.config.state_dir)
    assert harness.wait(
        lambda: db.one("SELECT actor FROM audit WHERE event = 'member_unsubscribed'") is not None
    )
    row = db.one("SELECT actor, phone FROM audit WHERE event = 'member_unsubscribed'")
    assert row is not None and (row["actor"], row["phone"]) == (f"sms:{phone}", phone)


WATCHER = """
import json, sys, time
from pathlib import Path
from modemd.operations.live import read_status
print("watching", flush=True)
seen = []
while not Path(sys.argv[2]).exists():
    snapshot = read_status(Path(sys.argv[1]))
    if snapshot and (not seen or snapshot["updated_at"] != seen[-1][0]):
        seen.append((snapshot["updated_at"], snapshot["queue"]["unsent"]))
    time.sleep(0.01)
print(json.dumps(seen))
"""


def test_a_submitted_alert_wakes_the_daemon_and_another_process_sees_it(
    harness: Harness,
) -> None:
    harness.members(2)
    daemon = harness.start()
    config, db = harness.config, open_database(harness.config.state_dir)
    # A second process, reading the live state through the operations (not the daemon),
    # records every snapshot it sees.
    done = harness.root / "watcher.done"
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER, str(config.state_dir), str(done)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None and watcher.stdout.readline().strip() == "watching"
    before = daemon.wake_listener.received
    submitted = submit_alert(
        config, db, alert_from_mapping({"message": "Vol rue Neuve"}, config), Actor.cli()
    )
    assert submitted.woken and submitted.daemon is not None
    # The daemon took the datagram (a poll would leave the counter alone) and sent.
    assert harness.wait(lambda: daemon.wake_listener.received > before, timeout=10)
    assert harness.wait(lambda: harness.messages() == 2)
    row = db.one("SELECT created_at FROM alerts WHERE id = ?", (submitted.alert_id,))
    assert row is not None
    accepted = float(row["created_at"])
    done.touch()
    out, _ = watcher.communicate(timeout=60)
    seen = json.loads(out)
    # Measured on the snapshots' own clock, not by sleeping: the first snapshot written
    # after the alert was accepted came within 1 s of it.
    after = [at for at, _ in seen if at >= accepted]
    assert after, seen
    assert after[0] - accepted < 1.0, (accepted, seen)


def test_retention_purges_leave_the_trail_whole(tmp_path: Path) -> None:
    from modemd.config import RetentionConfig
    from modemd.service.retention import purge

    db = open_database(tmp_path / "state")
    Registry(db).add("0640000000")
    request = alert_from_mapping({"message": "x"}, _config(tmp_path))
    submit_alert(_config(tmp_path), db, request, Actor("web", "marie"))
    entries = db.query("SELECT * FROM audit")
    purge(db, tmp_path / "incoming", RetentionConfig(), now=10**10)
    assert [tuple(r) for r in db.query("SELECT * FROM audit")] == [tuple(r) for r in entries]


def _config(tmp_path: Path) -> Config:
    return Config(
        modem=ModemConfig(port="/dev/null"),
        spool_dir=tmp_path / "spool",
        state_dir=tmp_path / "state",
    )


def test_alert_send_with_a_daemon_queues_directly_as_its_user_and_keeps_the_file(
    harness: Harness, tmp_path: Path
) -> None:
    """With a daemon running, `alert send` goes through the operations: the alert is in the
    database under the CLI user's name (a spool file would be the system's), the daemon is
    woken by its socket, and the file's copy is in done/ as the spool would keep it."""
    harness.members(3)
    daemon = harness.start()
    config = tmp_path / "modemd.yaml"
    config.write_text(
        "modem: {port: 'sim://generic'}\n"
        f"spool_dir: {harness.config.spool_dir}\nstate_dir: {harness.config.state_dir}\n"
    )
    alert = tmp_path / "vol.txt"
    alert.write_text("Vol à l'étalage rue des Forgerons.", encoding="utf-8")
    before = daemon.wake_listener.received
    sent = run_modemd(config, "alert", "send", str(alert), "--json")
    assert sent.returncode == 0, sent.stderr
    outcome = json.loads(sent.stdout)
    assert outcome["state"] == "accepted" and outcome["recipients"] == 3
    assert daemon.wake_listener.received > before
    assert harness.wait(lambda: harness.messages() == 3)
    db = open_database(harness.config.state_dir)
    row = db.one("SELECT actor FROM audit WHERE event = 'accepted'")
    assert row is not None and row["actor"] == f"cli:{getpass.getuser()}"
    kept = harness.config.spool_dir / "done" / outcome["done"]
    assert kept.read_bytes() == alert.read_bytes()
    again = json.loads(run_modemd(config, "alert", "send", str(alert), "--json").stdout)
    assert again["state"] == "accepted" and again["alert_id"] != outcome["alert_id"]
