"""``modemd users ...`` as an administrator types it: no default account, passwords from the
terminal or one stdin line (hashed with Argon2id, never stored), every change audited."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from modemd.store.db import open_database

MODEMD = [sys.executable, "-m", "modemd"]


def _run(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MODEMD, *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "modemd.yaml"
    path.write_text(
        f"modem:\n  port: sim://\nspool_dir: {tmp_path}/spool\nstate_dir: {tmp_path}/state\n"
    )
    return path


def test_users_from_first_admin_to_removal(tmp_path: Path) -> None:
    config = _config(tmp_path)
    listed = _run(config, "users", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []  # no default account
    added = _run(config, "users", "add", "chef", "--role", "admin", "--password-stdin",
                 stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    assert _run(config, "users", "add", "marie", "--role", "cci", "--password-stdin",
                stdin="un autre mot de passe\n").returncode == 0
    again = _run(config, "users", "add", "chef", "--password-stdin", stdin="whatever12345\n")
    assert again.returncode == 2 and "already exists" in again.stderr
    short = _run(config, "users", "add", "paul", "--password-stdin", stdin="court\n")
    assert short.returncode == 2 and "at least 10" in short.stderr
    no_tty = _run(config, "users", "add", "paul", stdin="")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    assert _run(config, "users", "passwd", "marie", "--password-stdin",
                stdin="nouveau mot de passe\n").returncode == 0
    assert _run(config, "users", "disable", "marie").returncode == 0
    totp = _run(config, "users", "totp", "chef")
    assert totp.returncode == 0 and "otpauth://totp/" in totp.stdout
    users = {u["login"]: u for u in json.loads(_run(config, "users", "list", "--json").stdout)}
    assert users["chef"]["role"] == "admin" and users["chef"]["totp"]
    assert users["marie"]["disabled"] and users["marie"]["role"] == "cci"
    assert _run(config, "users", "remove", "marie").returncode == 0
    missing = _run(config, "users", "remove", "marie")
    assert missing.returncode == 2 and "no user 'marie'" in missing.stderr

    db = open_database(tmp_path / "state")
    stored = db.one("SELECT password_hash FROM users WHERE login = 'chef'")
    assert stored is not None and stored["password_hash"].startswith("$argon2id$")
    assert "correct horse" not in (tmp_path / "state" / "modemd.db").read_bytes().decode(
        "latin-1"
    )
    events = [
        (r["event"], r["actor"].split(":")[0])
        for r in db.query("SELECT * FROM audit WHERE event LIKE 'user%' ORDER BY id")
    ]
    db.close()
    assert [e for e, _ in events] == [
        "user_added", "user_added", "user_password_changed", "user_disabled", "user_totp_set",
        "user_removed",
    ]
    assert {a for _, a in events} == {"cli"}
