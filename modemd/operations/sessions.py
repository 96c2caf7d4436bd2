"""Logging in to the web console, and the server-side sessions it opens.

The cookie holds a random token; the database only its SHA-256, with the session's CSRF
token and expiry. Five wrong passwords in a row lock the account for 15 minutes (each
refusal and each lock in the audit trail); a user who is disabled, removed or given a new
password loses every session at once, because each request reads the user again."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp

from modemd.operations.actor import Actor
from modemd.operations.hashing import hasher
from modemd.operations.users import User, _user, verify_password
from modemd.store import audit
from modemd.store.db import Database

MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60


@functools.cache
def _dummy_hash() -> str:
    """The same work as a real check, for a login that does not exist: the answer's timing
    does not tell which logins do. Made at the first need, not at import."""
    return hasher.hash("not a password of anybody")


class LoginRefused(Exception):
    """Wrong login, password or code; a locked or disabled account. ``reason`` is for the
    audit trail; the person is told only ``message``, which never says which part was wrong."""

    def __init__(self, message: str, reason: str) -> None:
        self.message = message
        self.reason = reason
        super().__init__(message)


class SecondFactorNeeded(LoginRefused):
    """The password was right; the account needs a TOTP code (missing or to be set up)."""


@dataclass(frozen=True)
class Session:
    token: str  # for the cookie only; never stored
    user: User
    csrf: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _refuse(db: Database, login: str, reason: str, client: str | None) -> None:
    with db.transaction() as conn:
        audit.record(
            conn, time.time(), "login_refused", actor=f"web:{login}", client=client,
            detail={"reason": reason},
        )


def log_in(
    db: Database,
    login: str,
    password: str,
    *,
    code: str = "",
    client: str | None = None,
    session_hours: float = 12,
    require_totp_for: tuple[str, ...] | list[str] = (),
    now: float | None = None,
) -> Session:
    """A new session for the right password (and code), or LoginRefused.
    ``require_totp_for``: the roles that must have a second factor."""
    now = time.time() if now is None else now
    wrong = "identifiant ou mot de passe incorrect"
    row = db.one("SELECT * FROM users WHERE login = ?", (login,))
    if row is None:
        verify_password(_dummy_hash(), password)
        _refuse(db, login, "unknown login", client)
        raise LoginRefused(wrong, "unknown login")
    user = _user(row)
    if user.disabled:
        _refuse(db, login, "disabled", client)
        raise LoginRefused("ce compte est désactivé", "disabled")
    if user.locked(now):
        _refuse(db, login, "locked", client)
        raise LoginRefused(
            "compte verrouillé après 5 échecs : réessayez dans 15 minutes", "locked"
        )
    if not verify_password(str(row["password_hash"]), password):
        failures = int(row["failed_logins"]) + 1
        locked = failures >= MAX_FAILURES
        with db.transaction() as conn:
            conn.execute(
                "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                (0 if locked else failures, now + LOCK_SECONDS if locked else 0, user.id),
            )
            audit.record(
                conn, now, "user_locked" if locked else "login_refused",
                actor=f"web:{login}", client=client,
                detail={"reason": "wrong password", "failures": failures},
            )
        raise LoginRefused(wrong, "wrong password")
    secret = row["totp_secret"]
    if secret is None and user.role in require_totp_for:
        _refuse(db, login, "second factor not set up", client)
        raise SecondFactorNeeded(
            "ce rôle exige un second facteur : demandez à un administrateur de l'activer "
            "(modemd users totp)",
            "second factor not set up",
        )
    if secret is not None and not pyotp.TOTP(secret).verify(code.strip(), valid_window=1):
        _refuse(db, login, "wrong code" if code else "code missing", client)
        raise SecondFactorNeeded(
            "code à 6 chiffres incorrect" if code else "saisissez le code à 6 chiffres",
            "wrong code",
        )
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + session_hours * 3600
    with db.transaction() as conn:
        conn.execute("DELETE FROM web_sessions WHERE expires_at < ?", (now,))
        conn.execute(
            "UPDATE users SET failed_logins = 0, locked_until = 0, last_login_at = ? "
            "WHERE id = ?",
            (now, user.id),
        )
        conn.execute(
            "INSERT INTO web_sessions (token_hash, user_id, csrf, created_at, expires_at, "
            "client) VALUES (?, ?, ?, ?, ?, ?)",
            (_digest(token), user.id, csrf, now, expires, client),
        )
        audit.record(conn, now, "login", actor=f"web:{login}", client=client)
    return Session(token, user, csrf, expires)


def session_of(db: Database, token: str, now: float | None = None) -> Session | None:
    """The open session of a cookie's token, with its user read now; None when it expired,
    was closed, or its user is disabled or gone."""
    if not token:
        return None
    now = time.time() if now is None else now
    row = db.one(
        "SELECT s.csrf, s.expires_at, u.* FROM web_sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = ?",
        (_digest(token),),
    )
    if row is None or float(row["expires_at"]) <= now or row["disabled"]:
        return None
    return Session(token, _user(row), str(row["csrf"]), float(row["expires_at"]))


def csrf_matches(session: Session, given: str) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf, given)


def log_out(db: Database, session: Session, actor: Actor) -> None:
    with db.transaction() as conn:
        conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (_digest(session.token),))
        audit.record(conn, time.time(), "logout", actor=str(actor), client=actor.client)
