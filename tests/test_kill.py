"""kill -9 at random moments during a fan-out: nothing lost, duplicates bounded by the kills.

The daemon and the simulated modem run as separate processes, as in production: the modem
outlives the daemon, and what it received is recorded in a file by the simulator.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from modemd.config import AlertsConfig
from modemd.members.registry import Registry
from modemd.pipeline.compose import AlertText, compose_alert
from modemd.store.db import open_database
from tests.trial_support import alert_state, daemon_up, start_daemon

MEMBERS = 60
KILLS = 8
MESSAGE = (
    "Vol par ruse à la boulangerie de Montech : 600 € pris dans la caisse par un faux livreur."
)


def parts_recorded(record: Path) -> list[dict[str, object]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def test_repeated_kill_9_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261129)
    link, record = tmp_path / "ttySIM", tmp_path / "sent.jsonl"
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modemd",
            "sim",
            "--profile",
            "simcom-sim7600",
            "--link",
            str(link),
            "--latency",
            "0.03",
            "--record",
            str(record),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert sim.stdout is not None and sim.stdout.readline().strip()
        state, spool = tmp_path / "state", tmp_path / "spool"
        config = tmp_path / "modemd.yaml"
        config.write_text(
            f"modem: {{port: {link}, command_timeout: 2, delivery_reports: false}}\n"
            f"spool_dir: {spool}\nstate_dir: {state}\n"
        )
        db = open_database(state)
        registry = Registry(db)
        phones = [f"+336{20_000_000 + i:08d}" for i in range(MEMBERS)]
        for phone in phones:
            registry.add(phone, commune="Montech")
        db.close()
        (spool / "outgoing").mkdir(parents=True)
        alert = tmp_path / ".alert.tmp"
        alert.write_text(f'message: "{MESSAGE}"\ncategory: vol_ruse\n', encoding="utf-8")
        alert.rename(spool / "outgoing" / "ruse.yaml")

        log = tmp_path / "daemon.log"
        kills = 0
        while kills < KILLS and alert_state(state) != "done":
            before = len(parts_recorded(record))
            daemon = start_daemon(config, log)
            deadline = time.monotonic() + 20
            while len(parts_recorded(record)) == before and time.monotonic() < deadline:
                time.sleep(0.02)  # wait for this run to be sending, then strike at random
            time.sleep(rng.uniform(0.0, 0.4))
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(10)
            kills += 1
        daemon = start_daemon(config, log)
        deadline = time.monotonic() + 60
        while alert_state(state) != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        while not daemon_up(state, daemon.pid) and time.monotonic() < deadline + 30:
            time.sleep(0.05)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
        assert alert_state(state) == "done", log.read_text()[-3000:]
    finally:
        sim.terminate()
        sim.wait(10)
        if sim.stdout is not None:
            sim.stdout.close()

    expected = compose_alert(AlertText(MESSAGE, "vol_ruse"), AlertsConfig())
    parts = parts_recorded(record)
    messages: dict[tuple[str, object], dict[int, str]] = defaultdict(dict)
    for part in parts:
        concat = part["concat"]
        key = (str(part["recipient"]), concat[0] if concat else None)  # type: ignore[index]
        seq = concat[2] if concat else 1  # type: ignore[index]
        messages[key][int(seq)] = str(part["text"])
    complete: dict[str, int] = defaultdict(int)
    for (recipient, _), got in messages.items():
        if len(got) == expected.part_count:
            assert "".join(got[i] for i in sorted(got)) == expected.text
            complete[recipient] += 1
    assert sorted(complete) == sorted(phones)  # every member got the whole alert
    duplicates = sum(n - 1 for n in complete.values())
    extra_parts = len(parts) - MEMBERS * expected.part_count
    print(f"kills={kills} duplicates={duplicates} extra_parts={extra_parts}")
    assert kills == KILLS
    assert duplicates <= kills and extra_parts <= kills, (duplicates, extra_parts)
