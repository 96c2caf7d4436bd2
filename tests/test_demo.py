"""`modemd demo`: the newcomer's first command runs the whole daemon on the simulator."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modemd", "demo", "--latency", "0.1"],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "9 added" in out
    assert "ALERTE COMMERCE - Vol à main armée" in out
    assert 'replies "Stop."' in out
    assert "7 sent, 1 cancelled" in out and "alert done" in out
    assert "is now unsubscribed" in out and "forwarded to the duty officer" in out
