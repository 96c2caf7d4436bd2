"""The web console's users: add, list, change a password, disable, remove, set a second
factor. Passwords are hashed with Argon2id (one of OWASP's equivalent settings: 12 MiB, 3 passes,
one lane, so a Raspberry Pi checks one in a fraction of a second and the console stays
small) and never kept or logged; every change is in the audit trail with its actor.
There is no default account: the first admin is made with ``modemd users add``."""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass

import pyotp

from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound, Problem
from modemd.operations.hashing import hasher, matches
from modemd.store import audit
from modemd.store.db import Database

ROLES = ("operateur", "cci", "admin")
ROLE_NAMES = {"operateur": "opérateur", "cci": "CCI", "admin": "administrateur"}
MIN_PASSWORD = 10
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")



@dataclass(frozen=True)
class User:
    id: int
    login: str
    role: str
    disabled: bool
    totp: bool  # has a second factor
    locked_until: float
    created_at: float
    last_login_at: float | None

    def locked(self, now: float) -> bool:
        return self.locked_until > now


def role_of(raw: str) -> str:
    """A role as given on a command line or a form (``opérateur`` is ``operateur``)."""
    role = raw.strip().lower().replace("é", "e")
    if role not in ROLES:
        raise InvalidInput([Problem("role", f"unknown role {raw!r} (roles: {', '.join(ROLES)})")])
    return role


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            [Problem("password", f"a password has at least {MIN_PASSWORD} characters")]
        )


def _user(r: sqlite3.Row) -> User:
    return User(
        id=int(r["id"]),
        login=str(r["login"]),
        role=str(r["role"]),
        disabled=bool(r["disabled"]),
        totp=r["totp_secret"] is not None,
        locked_until=float(r["locked_until"]),
        created_at=float(r["created_at"]),
        last_login_at=r["last_login_at"],
    )


def get_user(db: Database, login: str) -> User:
    row = db.one("SELECT * FROM users WHERE login = ?", (login,))
    if row is None:
        raise NotFound(f"no user {login!r} (see modemd users list)")
    return _user(row)


def list_users(db: Database) -> list[User]:
    return [_user(r) for r in db.query("SELECT * FROM users ORDER BY login")]


def _record(db: Database, event: str, actor: Actor, **detail: object) -> None:
    with db.transaction() as conn:
        audit.record(
            conn, time.time(), event, actor=str(actor), client=actor.client, detail=dict(detail)
        )


def add_user(db: Database, login: str, role: str, password: str, actor: Actor) -> User:
    problems = []
    if not _LOGIN.fullmatch(login):
        problems.append(
            Problem("login", "a login is 2 to 32 lowercase letters, digits, '.', '_' or '-'")
        )
    try:
        role = role_of(role)
    except InvalidInput as exc:
        problems += exc.problems
    try:
        check_password(password)
    except InvalidInput as exc:
        problems += exc.problems
    if problems:
        raise InvalidInput(problems)
    now = time.time()
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM users WHERE login = ?", (login,)).fetchone():
            raise InvalidInput([Problem("login", f"the user {login!r} already exists")])
        conn.execute(
            "INSERT INTO users (login, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
            (login, role, hasher.hash(password), now),
        )
        audit.record(
            conn, now, "user_added", actor=str(actor), client=actor.client,
            detail={"login": login, "role": role},
        )
    return get_user(db, login)


def set_password(db: Database, login: str, password: str, actor: Actor) -> User:
    user = get_user(db, login)
    check_password(password)
    with db.transaction() as conn:
        conn.execute(
            "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = 0 "
            "WHERE id = ?",
            (hasher.hash(password), user.id),
        )
        # A new password closes every open session: whoever knew the old one is out.
        conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.id,))
        audit.record(
            conn, time.time(), "user_password_changed", actor=str(actor), client=actor.client,
            detail={"login": login},
        )
    return get_user(db, login)


def set_role(db: Database, login: str, role: str, actor: Actor) -> User:
    user = get_user(db, login)
    role = role_of(role)
    with db.transaction() as conn:
        conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
        audit.record(
            conn, time.time(), "user_role_changed", actor=str(actor), client=actor.client,
            detail={"login": login, "role": role},
        )
    return get_user(db, login)


def set_disabled(db: Database, login: str, disabled: bool, actor: Actor) -> User:
    user = get_user(db, login)
    with db.transaction() as conn:
        conn.execute(
            "UPDATE users SET disabled = ?, failed_logins = 0, locked_until = 0 WHERE id = ?",
            (int(disabled), user.id),
        )
        if disabled:
            conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.id,))
        audit.record(
            conn, time.time(), "user_disabled" if disabled else "user_enabled",
            actor=str(actor), client=actor.client, detail={"login": login},
        )
    return get_user(db, login)


def remove_user(db: Database, login: str, actor: Actor) -> None:
    user = get_user(db, login)
    with db.transaction() as conn:
        conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.id,))
        conn.execute("DELETE FROM users WHERE id = ?", (user.id,))
        audit.record(
            conn, time.time(), "user_removed", actor=str(actor), client=actor.client,
            detail={"login": login},
        )


def set_totp(db: Database, login: str, enable: bool, actor: Actor) -> str | None:
    """Give the user a new TOTP secret (returned, to be shown once as an otpauth:// URI) or
    take it away."""
    user = get_user(db, login)
    secret = pyotp.random_base32() if enable else None
    with db.transaction() as conn:
        conn.execute("UPDATE users SET totp_secret = ? WHERE id = ?", (secret, user.id))
        audit.record(
            conn, time.time(), "user_totp_set" if enable else "user_totp_removed",
            actor=str(actor), client=actor.client, detail={"login": login},
        )
    if secret is None:
        return None
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name="modemd")


def verify_password(password_hash: str, password: str) -> bool:
    return matches(password_hash, password)
