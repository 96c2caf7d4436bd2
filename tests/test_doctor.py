"""`modemd doctor` against `modemd sim`, both as the user runs them: separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ALL_PROFILES


def modemd(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modemd", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class SimProcess:
    def __init__(self, link: Path, *options: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modemd", "sim", "--link", str(link), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[type[SimProcess]]:
    started: list[SimProcess] = []

    class Started(SimProcess):
        def __init__(self, *options: str) -> None:
            super().__init__(tmp_path / f"ttySIM{len(started)}", *options)
            started.append(self)

    yield Started  # type: ignore[misc]
    for sim in started:
        sim.stop()


def write_config(path: Path, port: str, **modem: str) -> Path:
    lines = ["modem:", f"  port: {port}", "  command_timeout: 2"]
    lines += [f"  {key}: {value!r}" for key, value in modem.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_doctor_passes_against_each_profile(
    sim_process: type[SimProcess], tmp_path: Path, profile: str
) -> None:
    sim = sim_process("--profile", profile)
    assert Path(sim.port).exists()
    config = write_config(tmp_path / "modemd.yaml", sim.port)
    result = modemd("doctor", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    for check in ("port", "modem", "SIM", "signal", "registration", "SMS centre", "storage"):
        lines = result.stdout.splitlines()
        assert any(line.startswith(check) and " ok " in line for line in lines), result.stdout
    assert profile.partition("-")[0] in result.stdout.lower() or profile == "generic"


def test_doctor_json_and_config_after_command(
    sim_process: type[SimProcess], tmp_path: Path
) -> None:
    sim = sim_process("--profile", "quectel-ec25")
    config = write_config(tmp_path / "modemd.yaml", sim.port)
    result = modemd("--config", str(config), "doctor", "--json")
    assert result.returncode == 0, result.stderr
    checks = json.loads(result.stdout)
    assert {c["name"]: c["result"] for c in checks}["registration"] == "ok"


def test_doctor_wrong_pin(sim_process: type[SimProcess], tmp_path: Path) -> None:
    sim = sim_process("--pin", "1234")
    config = write_config(tmp_path / "modemd.yaml", sim.port, pin="0000")
    result = modemd("doctor", "--config", str(config))
    assert result.returncode == 1
    assert "SIM" in result.stdout and "FAILED" in result.stdout
    assert "fix modem.pin" in result.stdout
    assert "0000" not in result.stdout + result.stderr
    assert "SIM check failed" in result.stderr


def test_doctor_missing_port(tmp_path: Path) -> None:
    config = write_config(tmp_path / "modemd.yaml", str(tmp_path / "ttyUSB9"))
    result = modemd("doctor", "--config", str(config))
    assert result.returncode == 1
    assert "does not exist" in result.stdout
    assert "/dev/serial/by-id" in result.stdout
    assert "not checked" in result.stdout


def test_doctor_no_smsc_says_what_to_do(sim_process: type[SimProcess], tmp_path: Path) -> None:
    sim = sim_process("--no-smsc")
    config = write_config(tmp_path / "modemd.yaml", sim.port)
    result = modemd("doctor", "--config", str(config))
    assert result.returncode == 1
    assert "set modem.smsc" in result.stdout


def test_doctor_uses_modemd_config_env(sim_process: type[SimProcess], tmp_path: Path) -> None:
    sim = sim_process()
    config = write_config(tmp_path / "modemd.yaml", sim.port)
    env = {**os.environ, "MODEMD_CONFIG": str(config)}
    result = subprocess.run(
        [sys.executable, "-m", "modemd", "doctor"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr


def test_doctor_checks_each_modem_of_a_pool(tmp_path: Path) -> None:
    config = tmp_path / "modemd.yaml"
    config.write_text(
        "modems:\n"
        "  - {name: orange, port: 'sim://generic'}\n"
        "  - {name: free, port: 'sim://quectel-ec25', role: receive}\n"
        f"state_dir: {tmp_path / 'state'}\n"
    )
    result = modemd("doctor", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(line.startswith("orange port") for line in result.stdout.splitlines())
    assert any(line.startswith("free registration") for line in result.stdout.splitlines())
