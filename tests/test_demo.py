"""`modemd demo`: the newcomer's first command runs everything on the simulator and exits 0."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modemd", "demo", "--latency", "0.01"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ALERTE COMMERCE - Vol à main armée" in out
    assert "8/8" in out
    assert "from +33623456789: Stop." in out
    assert "identical to the composed text" in out
