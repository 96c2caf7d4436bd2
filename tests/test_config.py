"""The configuration schema: defaults in one place, every error names its key, exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from modemd.config import Config, ConfigError, load_config, parse_config, parse_duration

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "modemd.example.yaml"


def test_example_documents_exactly_the_defaults() -> None:
    loaded = load_config(EXAMPLE)
    assert loaded == Config(source=EXAMPLE)


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path).modem.port == "/dev/ttyUSB2"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"modem": {"prot": "/dev/x"}}, "unknown key 'modem.prot'"),
        ({"modem": {"baudrate": "fast"}}, "modem.baudrate: must be a whole number"),
        ({"modem": {"pin": "12"}}, "modem.pin: a SIM PIN is 4 to 8 digits"),
        ({"modem": {"profile": "nokia"}}, "modem.profile: unknown profile 'nokia'"),
        ({"modem": {"delivery_reports": "yes"}}, "modem.delivery_reports: must be true or false"),
        ({"modem": {"smsc": "hello"}}, "modem.smsc: invalid phone number"),
        ({"limits": {"per_minute": -1}}, "limits.per_minute: must not be negative"),
        ({"alerts": {"expires_after": "soon"}}, "alerts.expires_after"),
        ({"alerts": {"encoding": "utf8"}}, "alerts.encoding: must be one of auto, gsm7, ucs2"),
        ({"alerts": {"template": "{oops}"}}, "unknown placeholder {oops}"),
        ({"inbound": {"operator_numbers": ["12"]}}, "inbound.operator_numbers[0]"),
        ({"inbound": {"replies": {"bye": "x"}}}, "inbound.replies: unknown reply 'bye'"),
        ({"modem": "ttyUSB2"}, "modem: must be a mapping"),
    ],
)
def test_errors_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("{", r"\{")):
        parse_config(data)


def test_pin_written_as_number_is_text() -> None:
    assert parse_config({"modem": {"pin": 1234}}).modem.pin == "1234"


def test_partial_replies_keep_other_defaults() -> None:
    config = parse_config({"inbound": {"replies": {"help": "Aide"}}})
    assert config.inbound.replies["help"] == "Aide"
    assert config.inbound.replies["stop"].startswith("Alerte Commerces")


def test_yaml_error_has_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("modem:\n  port: /dev/ttyUSB2\n  pin: [1234\n")
    with pytest.raises(ConfigError, match="line"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("order", ["before", "after"])
def test_bad_config_exits_2_naming_the_key(tmp_path: Path, order: str) -> None:
    path = tmp_path / "modemd.yaml"
    path.write_text("modem:\n  baudrate: fast\n")
    args = (
        ["--config", str(path), "doctor"]
        if order == "before"
        else ["doctor", "--config", str(path)]
    )
    result = subprocess.run(
        [sys.executable, "-m", "modemd", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "modem.baudrate" in result.stderr
    assert result.stderr.count("\n") == 1  # one clear sentence


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modemd", "doctor", "--config", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "not found" in result.stderr


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"listen": "8080"}, "web.listen: host:port like 127.0.0.1:8080"),
        ({"require_totp_for": ["chef"]}, "web.require_totp_for[0]: unknown role 'chef'"),
        ({"tls_cert": "/etc/modemd/cert.pem"}, "give both for HTTPS, or neither"),
        ({"session_hours": 0}, "web.session_hours: must be a positive number"),
    ],
)
def test_web_settings_are_checked(web: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config({"web": web})
