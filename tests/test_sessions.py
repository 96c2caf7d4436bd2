"""Console sessions in the operations layer: a session ends at its expiry, at logout, and
when its user's password changes; the database holds only the token's hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from modemd.operations.actor import Actor
from modemd.operations.sessions import LoginRefused, log_in, log_out, session_of
from modemd.operations.users import add_user, set_password
from modemd.store.db import open_database

PASSWORD = "un mot de passe correct"


def test_a_session_ends_at_expiry_logout_and_new_password(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    add_user(db, "marie", "cci", PASSWORD, Actor.cli())
    opened = log_in(db, "marie", PASSWORD, session_hours=1, now=1_000.0)
    assert session_of(db, opened.token, now=1_000.0 + 3599) is not None
    assert session_of(db, opened.token, now=1_000.0 + 3601) is None  # expired
    stored = [tuple(r) for r in db.query("SELECT * FROM web_sessions")]
    assert opened.token not in repr(stored)  # only its SHA-256

    second = log_in(db, "marie", PASSWORD)
    assert session_of(db, second.token) is not None
    log_out(db, second, Actor.web("marie", "127.0.0.1"))
    assert session_of(db, second.token) is None

    third = log_in(db, "marie", PASSWORD)
    set_password(db, "marie", "un tout autre mot de passe", Actor.cli())
    assert session_of(db, third.token) is None
    with pytest.raises(LoginRefused):
        log_in(db, "marie", PASSWORD)
    assert session_of(db, "") is None and session_of(db, "made-up") is None
    db.close()
