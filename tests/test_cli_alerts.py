"""The operator's commands against a real `modemd run` process on the simulated modem."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modemd.members.registry import Registry
from modemd.store.db import open_database


def modemd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modemd", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    config = tmp_path / "modemd.yaml"
    config.write_text(
        "modem: {port: 'sim://quectel-ec25?latency=0.01', delivery_reports: false}\n"
        f"spool_dir: {tmp_path / 'spool'}\nstate_dir: {tmp_path / 'state'}\n"
        "limits: {per_minute: 30}\n"
    )
    db = open_database(tmp_path / "state")
    registry = Registry(db)
    for i in range(5):
        registry.add(f"06 40 00 00 0{i}", name=f"Tabac {i}", commune="Saint-Flour", sector="tabac")
    registry.add("06 40 00 00 09", name="Garage", commune="Murat", sector="garage")
    db.close()
    alert = tmp_path / "alert.yaml"
    alert.write_text(
        "message: Deux individus proposent de faux billets de 20 €.\n"
        "category: fausse_monnaie\ntarget: {communes: [saint flour]}\nid: cantal-42\n",
        encoding="utf-8",
    )
    yield config, alert


def test_check_shows_everything_and_sends_nothing(setup: tuple[Path, Path]) -> None:
    config, alert = setup
    result = modemd(config, "alert", "send", str(alert), "--check")
    assert result.returncode == 0, result.stderr
    assert "ALERTE COMMERCE - Fausse monnaie" in result.stdout
    assert "GSM7, 1 part(s)" in result.stdout
    assert "Recipients: 5" in result.stdout
    assert "SIM limits: per_minute 30" in result.stdout
    assert "Nothing was sent" in result.stdout
    data = json.loads(modemd(config, "alert", "send", str(alert), "--check", "--json").stdout)
    assert data["recipients"] == 5 and data["parts"] == 1 and data["sent"] is False
    outgoing = config.parent / "spool" / "outgoing"
    assert not outgoing.exists() or not any(outgoing.iterdir())


def test_bad_file_is_refused_with_exit_2(setup: tuple[Path, Path], tmp_path: Path) -> None:
    config, _ = setup
    bad = tmp_path / "bad.yaml"
    bad.write_text("message: x\ncategory: nope\n")
    result = modemd(config, "alert", "send", str(bad))
    assert result.returncode == 2
    assert "unknown category 'nope'" in result.stderr
    nobody = tmp_path / "nobody.yaml"
    nobody.write_text("message: x\ntarget: {sectors: [fleuriste]}\n")
    result = modemd(config, "alert", "send", str(nobody), "--check")
    assert result.returncode == 2 and "matches no active member" in result.stderr


def test_send_list_show_status_cancel_with_a_running_daemon(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    config, alert = setup
    queued = modemd(config, "alert", "send", str(alert))  # no daemon yet: it waits
    assert queued.returncode == 0 and "queued as outgoing/alert.yaml" in queued.stdout
    with open(tmp_path / "daemon.log", "wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "modemd", "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listing = json.loads(modemd(config, "alert", "list", "--json").stdout)
            if listing and listing[0]["state"] == "done":
                break
            time.sleep(0.2)
        assert listing[0]["sent"] == 5 and listing[0]["total"] == 5
        alert_id = listing[0]["alert_id"]
        again = modemd(config, "alert", "send", str(alert))  # same id: not sent again
        assert again.returncode == 0 and f"already sent as alert {alert_id}" in again.stdout
        shown = modemd(config, "alert", "show", "cantal-42")
        assert shown.returncode == 0 and shown.stdout.count(" sent") >= 5
        assert "Tabac 3" in shown.stdout
        status = json.loads(modemd(config, "status", "--json").stdout)
        assert status["daemon"]["modem"]["state"] == "ready"
        assert status["daemon"]["throttle"][0]["name"] == "per_minute"
        text = modemd(config, "status").stdout
        assert "modem:    ready" in text and "per_minute" in text
        missing = modemd(config, "alert", "cancel", "nope")
        assert missing.returncode == 2 and "no alert 'nope'" in missing.stderr
        cancelled = modemd(config, "alert", "cancel", alert_id)
        assert cancelled.returncode == 0 and "already done" in cancelled.stdout
    finally:
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
        assert time.monotonic() - started < 10
