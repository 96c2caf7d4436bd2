"""The Raspberry Pi installation: systemd/modemd.service, systemd/99-modemd.rules and
systemd/install.sh.

The unit is checked by systemd's own `systemd-analyze verify` (which prints every unknown key,
bad value and missing executable as a warning, so the test asks for no output at all, and
proves on broken copies that it would notice) and by `systemd-analyze security`. install.sh runs
for real under a temporary --root: once with --no-system, as anybody can, and then with stub
useradd/groupadd/chown/systemctl... first on PATH, each logging its arguments, to check the
root-only steps without touching this machine's users or services.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SYSTEMD_DIR = PROJECT / "systemd"
UNIT = SYSTEMD_DIR / "modemd.service"
RULES = SYSTEMD_DIR / "99-modemd.rules"
INSTALL = SYSTEMD_DIR / "install.sh"

VENV = "opt/modemd/venv"
SPOOL = "var/spool/modemd"
SPOOL_DIRS = [SPOOL, *(f"{SPOOL}/{sub}" for sub in ("outgoing", "done", "failed", "incoming"))]
STATE = "var/lib/modemd"
CONFIG = "etc/modemd/modemd.yaml"
INSTALLED_UNIT = "etc/systemd/system/modemd.service"
WEB_UNIT = SYSTEMD_DIR / "modemd-web.service"
INSTALLED_WEB_UNIT = "etc/systemd/system/modemd-web.service"
INSTALLED_RULES = "etc/udev/rules.d/99-modemd.rules.example"

STUBS = ("useradd", "groupadd", "usermod", "getent", "chown", "chgrp", "systemctl", "udevadm")


# --- the unit ------------------------------------------------------------------------------


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return found


def _runnable_copy(tmp_path: Path, text: str | None = None, unit: Path = UNIT) -> Path:
    """The unit with ExecStart pointing at an executable that exists here (verify checks it)."""
    here = shutil.which("modemd", path=str(Path(sys.executable).parent)) or sys.executable
    text = unit.read_text(encoding="utf-8") if text is None else text
    rewritten, count = re.subn(
        r"^ExecStart=/opt/modemd/venv/bin/modemd ", f"ExecStart={here} ", text, flags=re.M
    )
    assert count == 1, "ExecStart no longer runs /opt/modemd/venv/bin/modemd"
    folder = tmp_path / "unit"
    folder.mkdir(exist_ok=True)
    copy = folder / unit.name
    copy.write_text(rewritten, encoding="utf-8")
    copy.chmod(0o644)  # verify warns about executable or world-writable unit files
    return copy


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "SYSTEMD_LOG_LEVEL": "info"}
    return subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_unit_passes_systemd_analyze_verify_without_a_single_warning(tmp_path: Path) -> None:
    result = _verify(_runnable_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


@pytest.mark.parametrize(
    ("mistake", "old", "new"),
    [
        ("a misspelled key", "WatchdogSec=60", "WatchdogSek=60"),
        ("a bad value", "Type=notify", "Type=notfy"),
        ("a relative path", "ReadWritePaths=/var/spool/modemd", "ReadWritePaths=var/spool/modemd"),
        ("a missing executable", "ExecReload=/bin/kill", "ExecReload=/nonexistent/kill"),
    ],
)
def test_verify_would_catch_a_broken_unit(tmp_path: Path, mistake: str, old: str, new: str) -> None:
    # Proves that the clean run above means something: verify exits 0 on most warnings, so
    # only "no output at all" tells a clean unit from a broken one.
    text = UNIT.read_text(encoding="utf-8")
    assert old in text
    result = _verify(_runnable_copy(tmp_path, text.replace(old, new, 1)))
    assert result.stdout + result.stderr != "", f"verify did not notice {mistake}"


def _service_settings(unit: Path = UNIT) -> dict[str, list[str]]:
    """``Section.Key`` -> its values, in order, as systemd reads the unit file."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def test_unit_runs_the_installed_daemon_unprivileged_under_the_watchdog() -> None:
    s = _service_settings()
    expected = {
        "Service.Type": ["notify"],
        "Service.NotifyAccess": ["main"],
        "Service.ExecStart": ["/opt/modemd/venv/bin/modemd run --config /etc/modemd/modemd.yaml"],
        "Service.ExecReload": ["/bin/kill -HUP $MAINPID"],
        "Service.WatchdogSec": ["60"],
        "Service.TimeoutStartSec": ["120"],
        "Service.TimeoutStopSec": ["15"],
        "Service.Restart": ["on-failure"],
        "Service.RestartSec": ["5"],
        "Service.RestartPreventExitStatus": ["2"],
        "Service.User": ["modemd"],
        "Service.Group": ["modemd"],
        "Service.SupplementaryGroups": ["dialout"],
        "Service.StateDirectory": ["modemd"],
        "Service.StateDirectoryMode": ["2770"],
        "Service.UMask": ["0007"],
        "Service.NoNewPrivileges": ["yes"],
        "Service.ProtectSystem": ["strict"],
        "Service.ProtectHome": ["yes"],
        "Service.PrivateTmp": ["yes"],
        "Service.ReadWritePaths": ["/var/spool/modemd /var/lib/modemd"],
        "Service.RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
        "Service.CapabilityBoundingSet": [""],
        "Unit.After": ["network.target"],
        "Install.WantedBy": ["multi-user.target"],
    }
    assert {key: s.get(key) for key in expected} == expected
    # Each of these would cut the daemon off its modem: PrivateDevices hides /dev/ttyUSB*;
    # ProtectClock implies DeviceAllow=char-rtc, and any DeviceAllow closes the device policy;
    # PrivateUsers unmaps the dialout group.
    for forbidden in ("PrivateDevices", "ProtectClock", "PrivateUsers", "DeviceAllow"):
        assert f"Service.{forbidden}" not in s, forbidden
    assert s.get("Service.DevicePolicy", ["auto"]) == ["auto"]


def test_unit_hardening_scores_ok_in_systemd_analyze_security(tmp_path: Path) -> None:
    result = subprocess.run(
        [_systemd_analyze(), "security", "--offline=true", str(_runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"Overall exposure level for modemd\.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5, result.stdout  # 10 = no hardening; 1.7 when written


# --- the udev example ----------------------------------------------------------------------

_RULE_TOKEN = re.compile(r'\s*([A-Z_]+)(\{[^}]+\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(,|$)')
_MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "ATTRS", "ENV"}
_ASSIGN_KEYS = {"ENV", "SYMLINK", "GOTO", "LABEL"}


def _udev_rules() -> list[list[tuple[str, str, str, str]]]:
    rules = []
    for number, raw in enumerate(RULES.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = []
        position = 0
        while position < len(line):
            token = _RULE_TOKEN.match(line, position)
            assert token, f"99-modemd.rules:{number}: cannot read {line[position:]!r}"
            key, attr, op, value, _ = token.groups()
            tokens.append((key, attr or "", op, value))
            position = token.end()
        for key, _attr, op, _value in tokens:
            if op in ("==", "!="):
                assert key in _MATCH_KEYS, f"99-modemd.rules:{number}: {key} is not matched here"
            else:
                assert key in _ASSIGN_KEYS, f"99-modemd.rules:{number}: {key} is not assigned here"
        rules.append(tokens)
    return rules


@pytest.mark.parametrize(
    ("vendor", "product", "interface"),
    [("1e0e", "9001", "02"), ("2c7c", "0125", "02"), ("12d1", "1001", None)],
    ids=["simcom-sim7600", "quectel-ec25", "huawei-e3372"],
)
def test_udev_example_names_the_at_port_and_hides_the_modem_from_modemmanager(
    vendor: str, product: str, interface: str | None
) -> None:
    rules = _udev_rules()

    def matches(rule: list[tuple[str, str, str, str]], key: str, value: str) -> bool:
        return any(
            f"{k}{a}" == key and op == "==" and value in v.split("|") for k, a, op, v in rule
        )

    ignore = [
        rule
        for rule in rules
        if matches(rule, "ATTRS{idVendor}", vendor)
        and matches(rule, "ATTRS{idProduct}", product)
        and ("ENV", "{ID_MM_DEVICE_IGNORE}", "=", "1") in rule
    ]
    assert ignore, f"no ID_MM_DEVICE_IGNORE for {vendor}:{product}"
    # No SUBSYSTEM== there: ModemManager must skip every port of the modem, not one.
    assert not any(key == "SUBSYSTEM" for rule in ignore for key, *_ in rule)

    named = [
        rule
        for rule in rules
        if matches(rule, "ENV{ID_VENDOR_ID}", vendor)
        and matches(rule, "ENV{ID_MODEL_ID}", product)
        and ("SYMLINK", "", "+=", "modem-sms") in rule
        and ("SUBSYSTEM", "", "==", "tty") in rule
    ]
    assert len(named) == 1, f"{vendor}:{product} needs exactly one active /dev/modem-sms rule"
    if interface is not None:
        assert matches(named[0], "ENV{ID_USB_INTERFACE_NUM}", interface)


def test_udev_example_never_mixes_device_and_interface_attributes_in_one_rule() -> None:
    # In one rule every ATTRS{} must match on the same parent; idVendor lives on the USB device
    # and bInterfaceNumber on the USB interface, so such a rule would never match anything.
    rules = _udev_rules()
    for rule in rules:
        attrs = {attr for key, attr, *_ in rule if key == "ATTRS"}
        device = attrs & {"{idVendor}", "{idProduct}"}
        interface = {attr for attr in attrs if attr.startswith("{bInterface")}
        assert not (device and interface), rule
    labels = {value for rule in rules for key, _, _, value in rule if key == "LABEL"}
    gotos = {value for rule in rules for key, _, _, value in rule if key == "GOTO"}
    assert gotos <= labels


# --- install.sh ------------------------------------------------------------------------------


def _bash() -> str:
    found = shutil.which("bash")
    if found is None:
        pytest.skip("bash is not installed")
    return found


def test_install_script_parses() -> None:
    result = subprocess.run([_bash(), "-n", str(INSTALL)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert INSTALL.stat().st_mode & stat.S_IXUSR, "install.sh must be executable"


def test_install_script_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run([shellcheck, str(INSTALL)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@dataclass
class Run:
    returncode: int
    output: str
    calls: list[list[str]]


def _project_version() -> str:
    with (PROJECT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout: pip builds in the source folder (build/, *.egg-info)."""
    copy = tmp_path_factory.mktemp("source") / "modemd"
    shutil.copytree(
        PROJECT,
        copy,
        ignore=shutil.ignore_patterns(
            ".*", "__pycache__", "build", "dist", "*.egg-info", "tests", "bench"
        ),
    )
    return copy


def _stub_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in STUBS:
        stub = folder / name
        code = 'exit "${STUB_GETENT_RC:-2}"' if name == "getent" else "exit 0"
        stub.write_text(
            "#!/bin/sh\n"
            f"printf '%s' {name} >>\"$STUB_LOG\"\n"
            'for arg in "$@"; do printf \'\\t%s\' "$arg" >>"$STUB_LOG"; done\n'
            "printf '\\n' >>\"$STUB_LOG\"\n"
            f"{code}\n",
            encoding="utf-8",
        )
        stub.chmod(0o755)
    return folder


def _install(
    root: Path, source: Path, *args: str, stubs: Path | None = None, getent_rc: int = 2
) -> Run:
    env = {key: value for key, value in os.environ.items() if key != "SUDO_USER"}
    log = root.parent / f"{root.name}-calls.log"
    log.write_text("", encoding="utf-8")
    env["STUB_LOG"] = str(log)
    env["STUB_GETENT_RC"] = str(getent_rc)
    if stubs is not None:
        env["PATH"] = f"{stubs}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [_bash(), str(INSTALL), "--root", str(root), "--source", str(source), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=240,
    )
    calls = [line.split("\t") for line in log.read_text(encoding="utf-8").splitlines()]
    return Run(result.returncode, result.stdout, calls)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, source: Path) -> tuple[Path, Run]:
    """One real installation (virtualenv, pip install from PyPI) shared by the tests below."""
    root = tmp_path_factory.mktemp("install") / "root"
    stubs = _stub_dir(tmp_path_factory.mktemp("stubs"))
    # The stubs are on PATH here too: with --no-system, none of them may be called.
    return root, _install(root, source, "--no-system", stubs=stubs)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.timeout(300)
def test_install_no_system_builds_a_working_installation(installed: tuple[Path, Run]) -> None:
    root, run = installed
    assert run.returncode == 0, run.output
    assert run.calls == [], "--no-system ran a command that needs root"

    modemd = root / VENV / "bin" / "modemd"
    version = subprocess.run([str(modemd), "--version"], capture_output=True, text=True)
    assert version.returncode == 0, version.stderr
    assert version.stdout.split() == ["modemd", _project_version()]
    # Installed, not linked to the checkout: the service never runs the work tree.
    located = subprocess.run(
        # -I: not from the current folder (a checkout) nor from $PYTHONPATH
        [str(root / VENV / "bin" / "python"), "-I", "-c", "import modemd; print(modemd.__file__)"],
        capture_output=True,
        text=True,
    )
    assert located.stdout.startswith(str(root / VENV)), located.stdout + located.stderr
    assert os.readlink(root / "usr/local/bin/modemd") == "/opt/modemd/venv/bin/modemd"

    for folder in SPOOL_DIRS:
        assert (root / folder).is_dir(), folder
        assert _mode(root / folder) == 0o2770, folder
    assert _mode(root / STATE) == 0o2770
    assert _mode(root / CONFIG) == 0o640
    assert (root / CONFIG).read_bytes() == (PROJECT / "config/modemd.example.yaml").read_bytes()
    assert (root / INSTALLED_UNIT).read_bytes() == UNIT.read_bytes()
    assert _mode(root / INSTALLED_UNIT) == 0o644
    assert (root / INSTALLED_WEB_UNIT).read_bytes() == WEB_UNIT.read_bytes()
    assert _mode(root / INSTALLED_WEB_UNIT) == 0o644
    assert (root / INSTALLED_RULES).read_bytes() == RULES.read_bytes()
    assert not (root / "etc/udev/rules.d/99-modemd.rules").exists(), (
        "the example must stay inactive"
    )
    for hint in ("usermod -aG modemd", "modemd doctor", "ModemManager", "99-modemd.rules"):
        assert hint in run.output, hint
    assert "skipped (--no-system): systemctl daemon-reload" in run.output


@pytest.mark.timeout(300)
def test_install_twice_keeps_the_configuration(installed: tuple[Path, Run], source: Path) -> None:
    root, _ = installed
    config = root / CONFIG
    edited = config.read_text(encoding="utf-8") + "\n# edited by the operator\n"
    config.write_text(edited, encoding="utf-8")
    config.chmod(0o644)  # and left world-readable by mistake: it holds the SIM PIN
    (root / SPOOL / "outgoing" / "alert.yaml").write_text("message: x\n", encoding="utf-8")

    run = _install(root, source, "--no-system")

    assert run.returncode == 0, run.output
    assert "kept the existing /etc/modemd/modemd.yaml" in run.output
    assert config.read_text(encoding="utf-8") == edited
    assert _mode(config) == 0o640
    assert (root / SPOOL / "outgoing" / "alert.yaml").exists()
    for folder in SPOOL_DIRS:
        assert _mode(root / folder) == 0o2770, folder
    again = subprocess.run([str(root / VENV / "bin" / "modemd"), "--version"], capture_output=True)
    assert again.returncode == 0, again.stderr


def _called(run: Run, *command: str) -> list[list[str]]:
    return [call for call in run.calls if call[: len(command)] == list(command)]


@pytest.mark.timeout(300)
def test_install_system_steps_create_the_user_and_enable_the_service(
    installed: tuple[Path, Run], source: Path, tmp_path: Path
) -> None:
    root, _ = installed
    (root / CONFIG).unlink()  # so that this run installs it and sets its group
    run = _install(root, source, "--start", stubs=_stub_dir(tmp_path / "stubs"))
    assert run.returncode == 0, run.output

    assert _called(run, "getent", "group", "modemd")
    assert _called(run, "getent", "passwd", "modemd")
    assert _called(run, "groupadd", "--system", "modemd")
    [useradd] = _called(run, "useradd")
    assert useradd[-1] == "modemd"
    for option in (
        ["--system"],
        ["--gid", "modemd"],
        ["--groups", "dialout"],
        ["--home-dir", "/var/lib/modemd"],
        ["--shell", "/usr/sbin/nologin"],
    ):
        assert any(useradd[i : i + len(option)] == option for i in range(len(useradd))), option
    assert not _called(run, "usermod")

    [chown] = _called(run, "chown")
    assert chown[1] == "modemd:modemd"
    assert set(chown[2:]) - {"--"} == {str(root / d) for d in [*SPOOL_DIRS, STATE]}
    assert _called(run, "chgrp", "modemd", "--", str(root / CONFIG))

    systemctl = [call[1:] for call in run.calls if call[0] == "systemctl"]
    reload_at = systemctl.index(["daemon-reload"])
    enable_at = systemctl.index([f"--root={root}", "enable", "modemd.service"])
    restart_at = systemctl.index(["restart", "modemd.service"])
    assert reload_at < enable_at < restart_at
    web_enable_at = systemctl.index([f"--root={root}", "enable", "modemd-web.service"])
    web_restart_at = systemctl.index(["restart", "modemd-web.service"])
    assert reload_at < web_enable_at < web_restart_at
    assert not _called(run, "udevadm"), "the udev rule is only an example: nothing to reload"
    # The modes are still right after the (stubbed) chown.
    for folder in SPOOL_DIRS:
        assert _mode(root / folder) == 0o2770, folder
    assert _mode(root / CONFIG) == 0o640


@pytest.mark.timeout(300)
def test_install_system_steps_again_reuse_the_user(
    installed: tuple[Path, Run], source: Path, tmp_path: Path
) -> None:
    root, _ = installed
    run = _install(root, source, stubs=_stub_dir(tmp_path / "stubs"), getent_rc=0)
    assert run.returncode == 0, run.output
    assert not _called(run, "useradd")
    assert not _called(run, "groupadd")
    assert _called(run, "usermod", "--append", "--groups", "dialout", "modemd")
    assert _called(run, "systemctl", "daemon-reload")
    assert _called(run, "systemctl", f"--root={root}", "enable", "modemd.service")
    assert not _called(run, "systemctl", "restart", "modemd.service")  # no --start
    assert _called(run, "systemctl", f"--root={root}", "enable", "modemd-web.service")


def test_install_refuses_an_old_python(tmp_path: Path, source: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\necho 3.9\n", encoding="utf-8")
    old.chmod(0o755)
    root = tmp_path / "root"
    run = _install(root, source, "--no-system", "--python", str(old))
    assert run.returncode == 1
    assert "needs Python 3.11 or later" in run.output
    assert "is 3.9" in run.output
    assert not (root / "opt").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frobnicate"], "unknown option: --frobnicate"),
        (["--no-system", "--start"], "--start needs systemctl"),
        (["--python"], "--python needs a value"),
    ],
)
def test_install_rejects_bad_options(
    tmp_path: Path, source: Path, args: list[str], message: str
) -> None:
    run = _install(tmp_path / "root", source, *args)
    assert run.returncode == 2
    assert message in run.output
    assert run.calls == []
