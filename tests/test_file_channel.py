"""A second kind of channel through the same seam: ``file://`` writes each part to a file.

No fakes: the file channel is a real channel, driven by the real daemon, dispatcher, pool,
throttle and crash-safety path that drive the modem.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from modemd.channels import kind_of, open_channel
from modemd.channels.file import FileChannel, read_sent
from modemd.config import AlertsConfig, Config, LimitsConfig, ModemConfig
from modemd.members.registry import Registry
from modemd.pipeline.compose import AlertText, compose_alert
from modemd.service.daemon import Daemon
from modemd.store.db import Database, _schema_files, open_database
from modemd.testing import FakeClock
from tests.trial_support import alert_state, daemon_up, wait_for

MESSAGE = (
    "Vol par ruse à la boulangerie de Montech : 600 € pris dans la caisse par un faux livreur."
)


def setup(tmp_path: Path, members: int, **config: object) -> tuple[Config, Path, list[str]]:
    out = tmp_path / "out" / "sent.jsonl"
    cfg = Config(
        modem=ModemConfig(port=f"file://{out}", delivery_reports=False),
        spool_dir=tmp_path / "spool",
        state_dir=tmp_path / "state",
        **config,  # type: ignore[arg-type]
    )
    db = open_database(cfg.state_dir)
    registry = Registry(db)
    phones = [f"+336{30_000_000 + i:08d}" for i in range(members)]
    for phone in phones:
        registry.add(phone, commune="Montech")
    db.close()
    return cfg, out, phones


def drop_alert(spool: Path, name: str = "ruse.yaml") -> None:
    outgoing = spool / "outgoing"
    outgoing.mkdir(parents=True, exist_ok=True)
    tmp = outgoing / f".{name}.tmp"
    tmp.write_text(f'message: "{MESSAGE}"\ncategory: vol_ruse\n', encoding="utf-8")
    tmp.rename(outgoing / name)


def test_the_registry_picks_the_driver_by_the_port(tmp_path: Path) -> None:
    assert kind_of("file:///tmp/x.jsonl") == "file"
    assert kind_of("/dev/ttyUSB2") == kind_of("sim://generic") == "modem"
    channel = open_channel(
        "dry",
        ModemConfig(port=f"file://{tmp_path}/a.jsonl"),
        on_message=lambda m: None,
        on_receipt=lambda r: None,
        on_state=lambda s, d: None,
        state_dir=tmp_path,
    )
    assert isinstance(channel, FileChannel) and channel.path == tmp_path / "a.jsonl"


def test_a_fan_out_goes_to_the_file_through_the_dispatcher(tmp_path: Path) -> None:
    cfg, out, phones = setup(tmp_path, 12)
    daemon = Daemon(cfg, clock=FakeClock())
    daemon.start()
    try:
        assert daemon.pool.first.channel.wait_ready(10)
        drop_alert(cfg.spool_dir)
        assert daemon.db is not None
        db = daemon.db

        def done() -> bool:
            row = db.one("SELECT state FROM alerts")
            return row is not None and row["state"] == "done"

        assert wait_for(done)
        ids = [r["message_id"] for r in db.query("SELECT message_id FROM parts ORDER BY at")]
        snapshot = daemon.status_snapshot()
    finally:
        daemon.stop()
    expected = compose_alert(AlertText(MESSAGE, "vol_ruse"), AlertsConfig())
    assert expected.part_count == 2
    lines = read_sent(out)
    assert len(lines) == 12 * expected.part_count
    by_phone: dict[str, dict[int, str]] = defaultdict(dict)
    for line in lines:
        by_phone[str(line["recipient"])][int(line["seq"])] = str(line["text"])
    assert sorted(by_phone) == sorted(phones)
    assert all("".join(p[i] for i in sorted(p)) == expected.text for p in by_phone.values())
    # The channel's message ids, as text, are what the store keeps for receipts.
    assert sorted(ids) == sorted(str(line["id"]) for line in lines)
    assert snapshot["modems"][0]["modem"]["kind"] == "file"


def test_the_throttle_holds_a_file_channel_like_a_sim(tmp_path: Path) -> None:
    cfg, out, _ = setup(tmp_path, 5, limits=LimitsConfig(per_hour=4))
    daemon = Daemon(cfg, clock=FakeClock())
    daemon.start()
    try:
        assert daemon.pool.first.channel.wait_ready(10)
        drop_alert(cfg.spool_dir)
        state = daemon.dispatcher.state
        assert wait_for(lambda: state.blocked is not None)
        assert state.blocked is not None and state.blocked.window == "per_hour"
        assert len(read_sent(out)) == 4  # two whole messages of two parts, then held
    finally:
        daemon.stop()


def test_schema_v5_keeps_ids_and_resume_notes_as_text(tmp_path: Path) -> None:
    path = tmp_path / "modemd.db"
    conn = sqlite3.connect(path)
    for version, script in _schema_files().items():
        if version >= 5:
            break
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(
        "INSERT INTO alerts (id, category, message, advice, text, encoding, parts, priority, "
        "target, created_at, expires_at, state) "
        "VALUES ('a', 'autre', 'm', '', 't', 'gsm7', 2, 1, '{}', 0, 9, 'active')"
    )
    conn.execute(
        "INSERT INTO deliveries (id, alert_id, phone, state, concat_ref, parts_sent) "
        "VALUES (1, 'a', '+33600000001', 'sending', 77, 1)"
    )
    conn.execute(
        "INSERT INTO parts (delivery_id, seq, state, modem, reference, at) "
        "VALUES (1, 1, 'sent', 'modem', 201, 1.0)"
    )
    conn.commit()
    conn.close()
    db = Database(path)
    try:
        assert db.one("SELECT resume FROM deliveries")["resume"] == "77"  # type: ignore[index]
        assert db.one("SELECT message_id FROM parts")["message_id"] == "201"  # type: ignore[index]
        columns = {r["name"] for r in db.query("PRAGMA table_info(parts)")}
        assert "reference" not in columns
    finally:
        db.close()


def test_kill_9_during_a_fan_out_to_a_file_loses_nothing(tmp_path: Path) -> None:
    members, kills_wanted = 40, 6
    out = tmp_path / "sent.jsonl"
    state, spool = tmp_path / "state", tmp_path / "spool"
    config = tmp_path / "modemd.yaml"
    config.write_text(
        f"modem: {{port: 'file://{out}', delivery_reports: false}}\n"
        f"spool_dir: {spool}\nstate_dir: {state}\n"
    )
    db = open_database(state)
    registry = Registry(db)
    phones = [f"+336{40_000_000 + i:08d}" for i in range(members)]
    for phone in phones:
        registry.add(phone, commune="Montech")
    db.close()
    drop_alert(spool)
    log = tmp_path / "daemon.log"

    def start() -> subprocess.Popen[bytes]:
        with open(log, "ab") as stderr:
            return subprocess.Popen(
                [sys.executable, "-m", "modemd", "run", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    kills = 0
    while kills < kills_wanted and alert_state(state) != "done":
        before = len(read_sent(out))
        daemon = start()
        # Strike as soon as this run has written a part, then after a few more: each kill
        # lands during the fan-out.
        assert wait_for(lambda before=before: len(read_sent(out)) > before, 30)
        wait_for(lambda more=before + kills: len(read_sent(out)) > more, 5)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        kills += 1
    daemon = start()
    finished = wait_for(lambda: alert_state(state) == "done", 60)
    assert wait_for(lambda: daemon_up(state, daemon.pid), 30), log.read_text()[-3000:]
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(15) == 0
    assert finished, log.read_text()[-3000:]

    expected = compose_alert(AlertText(MESSAGE, "vol_ruse"), AlertsConfig())
    parts = read_sent(out)
    got: dict[str, set[int]] = defaultdict(set)
    for part in parts:
        got[str(part["recipient"])].add(int(part["seq"]))
    assert sorted(got) == sorted(phones)  # every member got every part
    assert all(seqs == set(range(1, expected.part_count + 1)) for seqs in got.values())
    extra_parts = len(parts) - members * expected.part_count
    print(f"kills={kills} extra_parts={extra_parts}")
    assert extra_parts <= kills, extra_parts


def test_a_file_address_with_a_bad_option_is_refused_with_a_reason(tmp_path: Path) -> None:
    from modemd.channels.file import send_time

    assert send_time(f"file://{tmp_path}/out.jsonl?send_time=2.5") == 2.5
    assert send_time(f"file://{tmp_path}/out.jsonl") == 0.0
    for query, reason in [
        ("send_time=fast", "must be a number"),
        ("send_time=-1", "between 0 and 60"),
        ("latency=1", "unknown option 'latency'"),
    ]:
        try:
            send_time(f"file://{tmp_path}/out.jsonl?{query}")
        except ValueError as exc:
            assert reason in str(exc), exc
        else:
            raise AssertionError(f"{query} was accepted")


def test_modemd_run_refuses_a_bad_file_address_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "modemd.yaml"
    config.write_text(
        f"modem: {{port: 'file://{tmp_path}/out.jsonl?send_time=fast'}}\n"
        f"spool_dir: {tmp_path / 'spool'}\nstate_dir: {tmp_path / 'state'}\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "modemd", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 2, run.stderr
    assert "modem.port: " in run.stderr and "send_time must be a number" in run.stderr
    assert "Traceback" not in run.stderr
