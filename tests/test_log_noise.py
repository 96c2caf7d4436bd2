"""At the default level, `modemd run` logs its own events and not the scheduler's routine
("Running job ...", "... executed successfully" for every run of every periodic job)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from modemd.sim.pty import PtySimulator

MakeSim = Callable[..., PtySimulator]


def status_updates(state: Path) -> float | None:
    try:
        return float(json.loads((state / "status.json").read_text())["updated_at"])
    except (OSError, ValueError, KeyError):
        return None


def test_scheduler_routine_is_not_logged_at_the_default_level(
    tmp_path: Path, make_sim: MakeSim
) -> None:
    sim = make_sim()
    config = tmp_path / "modemd.yaml"
    state = tmp_path / "state"
    config.write_text(
        f"modem: {{port: '{sim.port}', command_timeout: 2}}\n"
        f"spool_dir: {tmp_path / 'spool'}\nstate_dir: {state}\n"
    )
    log = tmp_path / "stderr.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modemd", "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            # The periodic work has run three times over (each run rewrites status.json).
            seen: list[float] = []
            deadline = time.monotonic() + 60
            while len(seen) < 3 and time.monotonic() < deadline and proc.poll() is None:
                updated = status_updates(state)
                if updated is not None and updated not in seen:
                    seen.append(updated)
                time.sleep(0.1)
            assert len(seen) == 3, log.read_text()
        finally:
            proc.terminate()
            assert proc.wait(15) == 0
    text = log.read_text()
    assert "modemd started" in text and "modem up on" in text  # its own events stay
    assert "Running job" not in text and "executed successfully" not in text, text
