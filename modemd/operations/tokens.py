"""API tokens: made by an admin, shown once, kept as their SHA-256 only, scoped, revocable,
their last use recorded. A token is 32 random bytes: unguessable, so a fast hash is right
(Argon2 is for secrets a person chooses, which can be guessed)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound, Problem
from modemd.store import audit
from modemd.store.db import Database

SCOPES = (
    "alerts:read",
    "alerts:write",
    "members:read",
    "members:write",
    "inbound:read",
    "status:read",
)
PREFIX = "mdm_"  # says what the secret is when it turns up in a file or a log by mistake
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
# Last use is written at most this often per token: a busy client does not turn every
# read into a write.
LAST_USE_EVERY = 60.0


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    scopes: tuple[str, ...]
    created_at: float
    created_by: str
    last_used_at: float | None
    last_used_from: str | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "scopes": list(self.scopes), "active": self.active}


@dataclass(frozen=True)
class NewToken:
    token: Token
    secret: str  # shown once, never stored


def _token(r: sqlite3.Row) -> Token:
    return Token(
        int(r["id"]),
        str(r["name"]),
        tuple(json.loads(r["scopes"])),
        float(r["created_at"]),
        str(r["created_by"]),
        r["last_used_at"],
        r["last_used_from"],
        r["revoked_at"],
    )


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scopes_of(raw: list[str]) -> tuple[str, ...]:
    """Scopes as given (``alerts:write,members:read`` or one by one), checked."""
    found: list[str] = []
    for item in raw:
        for scope in (s.strip() for s in item.split(",")):
            if scope and scope not in SCOPES:
                raise InvalidInput(
                    [Problem("scope", f"unknown scope {scope!r} (scopes: {', '.join(SCOPES)})")]
                )
            if scope and scope not in found:
                found.append(scope)
    if not found:
        raise InvalidInput([Problem("scope", f"give at least one scope ({', '.join(SCOPES)})")])
    return tuple(found)


def add_token(db: Database, name: str, scopes: tuple[str, ...], actor: Actor) -> NewToken:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            [Problem("name", "a token name is 1 to 40 lower-case letters, digits, '.', '_', '-'")]
        )
    scopes = scopes_of(list(scopes))
    secret = PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    try:
        with db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_tokens (name, token_hash, scopes, created_at, created_by) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, digest(secret), json.dumps(list(scopes)), now, str(actor)),
            )
            audit.record(
                conn, now, "token_added", actor=str(actor), client=actor.client,
                detail={"name": name, "scopes": list(scopes)},
            )
    except sqlite3.IntegrityError:
        raise InvalidInput([Problem("name", f"a token named {name!r} exists already")]) from None
    return NewToken(get_token(db, name), secret)


def get_token(db: Database, name: str) -> Token:
    row = db.one("SELECT * FROM api_tokens WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"no token named {name!r} (see modemd tokens list)")
    return _token(row)


def list_tokens(db: Database) -> list[Token]:
    return [_token(r) for r in db.query("SELECT * FROM api_tokens ORDER BY name")]


def revoke_token(db: Database, name: str, actor: Actor) -> Token:
    token = get_token(db, name)
    if token.active:
        now = time.time()
        with db.transaction() as conn:
            conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (now, token.id))
            audit.record(
                conn, now, "token_revoked", actor=str(actor), client=actor.client,
                detail={"name": name},
            )
    return get_token(db, name)


def authenticate(db: Database, secret: str, client: str | None) -> Token | None:
    """The active token with this secret, its use recorded; None for any other secret."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = db.one(
        "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", (digest(secret),)
    )
    if row is None:
        return None
    token = _token(row)
    now = time.time()
    if (
        token.last_used_at is None
        or now - token.last_used_at >= LAST_USE_EVERY
        or token.last_used_from != client
    ):
        with db.transaction() as conn:
            conn.execute(
                "UPDATE api_tokens SET last_used_at = ?, last_used_from = ? WHERE id = ?",
                (now, client, token.id),
            )
    return token
