"""systemd/modemd-web.service: the console's own unit, checked as the daemon's is (by
`systemd-analyze verify`, with no warning at all, and `systemd-analyze security`): the same
unprivileged user without the serial-port group and without any device, the network allowed,
only the state folder writable."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.test_install import WEB_UNIT, _systemd_analyze, _verify
from tests.test_install import _runnable_copy as runnable_copy
from tests.test_install import _service_settings as service_settings


def _runnable_copy(tmp_path: Path) -> Path:
    return runnable_copy(tmp_path, unit=WEB_UNIT)


def _settings() -> dict[str, list[str]]:
    return service_settings(WEB_UNIT)


def test_web_unit_passes_systemd_analyze_verify_without_a_single_warning(tmp_path: Path) -> None:
    result = _verify(_runnable_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


def test_web_unit_serves_the_console_unprivileged_and_without_the_serial_ports() -> None:
    s = _settings()
    expected = {
        "Service.ExecStart": ["/opt/modemd/venv/bin/modemd web --config /etc/modemd/modemd.yaml"],
        "Service.User": ["modemd"],
        "Service.Group": ["modemd"],
        "Service.Restart": ["on-failure"],
        "Service.RestartPreventExitStatus": ["2"],
        "Service.StateDirectory": ["modemd"],
        "Service.UMask": ["0007"],
        "Service.NoNewPrivileges": ["yes"],
        "Service.ProtectSystem": ["strict"],
        "Service.ReadWritePaths": ["/var/lib/modemd"],
        "Service.PrivateDevices": ["yes"],
        "Service.DevicePolicy": ["closed"],
        "Service.RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
        "Service.CapabilityBoundingSet": [""],
        "Install.WantedBy": ["multi-user.target"],
    }
    assert {key: s.get(key) for key in expected} == expected
    assert "Service.SupplementaryGroups" not in s  # no dialout: no modem
    for forbidden in ("PrivateNetwork", "IPAddressDeny", "DeviceAllow"):
        assert f"Service.{forbidden}" not in s, forbidden


def test_web_unit_hardening_scores_better_than_the_daemons(tmp_path: Path) -> None:
    result = subprocess.run(
        [_systemd_analyze(), "security", "--offline=true", str(_runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"Overall exposure level for modemd-web\.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5, result.stdout
