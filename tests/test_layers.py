"""The direction of imports is a contract (pyproject.toml, ``[tool.importlinter]``): faces over
the service over the operations over the engine, and the device and codec layers free of the
configuration. import-linter checks it; the second test proves the check bites."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(tool), "--config", "pyproject.toml", "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
    )


def test_the_layers_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "modemd", tmp_path / "modemd")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    codec = tmp_path / "modemd" / "sms" / "gsm7.py"
    codec.write_text(codec.read_text() + "\nfrom modemd.pipeline import outbox  # noqa\n")
    device = tmp_path / "modemd" / "modem" / "at.py"
    device.write_text(device.read_text() + "\nfrom modemd import config  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "modemd.sms.gsm7 -> modemd.pipeline.outbox" in result.stdout
    assert "modemd.modem.at -> modemd.config" in result.stdout
