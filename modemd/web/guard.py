"""The one check every request goes through before its view: the route's rule (none:
refused), the session from the cookie (none: off to the login page), the role, and for
every POST its CSRF token (a form's hidden ``csrf`` field or the ``X-CSRF-Token`` header).
Also the response headers every answer carries: a strict Content-Security-Policy (scripts,
styles and pictures from this server only, no inline code), no framing, no sniffing."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modemd.config import Config
from modemd.operations.actor import Actor
from modemd.operations.sessions import Session, csrf_matches, session_of
from modemd.store.db import Database
from modemd.web.rules import PUBLIC, rule_for
from modemd.web.throttle import AddressThrottle

SESSION_COOKIE = "modemd_session"
LOGIN_COOKIE = "modemd_login"  # the login form's own CSRF token, before any session

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


@dataclass(frozen=True)
class WebState:
    config: Config
    db: Database
    throttle: AddressThrottle = field(default_factory=AddressThrottle)

    @property
    def https(self) -> bool:
        return self.config.web.tls_cert is not None


class NeedsLogin(Exception):
    def __init__(self, back: str) -> None:
        self.back = back


class Refused(Exception):
    """403: the role may not, the route has no rule, or the CSRF token is wrong."""

    def __init__(self, why: str) -> None:
        self.why = why


def over_https(request: Request) -> bool:
    """Served over HTTPS by modemd itself, or by a reverse proxy on this host that says so
    (X-Forwarded-Proto, trusted from 127.0.0.1 only): then cookies are Secure."""
    return state_of(request).https or request.url.scheme == "https"


def state_of(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def login_url(back: str) -> str:
    return "/connexion" + (f"?suite={quote(back, safe='/')}" if back not in ("", "/") else "")


async def guard(request: Request) -> None:
    route = request.scope.get("route")
    rule = rule_for(request.method, getattr(route, "path", ""))
    web = state_of(request)
    session = session_of(web.db, request.cookies.get(SESSION_COOKIE, ""))
    request.state.session = session
    if rule is None:
        raise Refused("cette page n'a pas de règle d'accès")
    if rule is not PUBLIC:
        if session is None:
            raise NeedsLogin(request.url.path if request.method == "GET" else "/")
        if session.user.role not in rule:
            raise Refused("votre rôle ne donne pas accès à cette page")
    if request.method not in ("GET", "HEAD"):
        given = request.headers.get("x-csrf-token", "")
        if not given and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            field = (await request.form()).get("csrf")
            given = field if isinstance(field, str) else ""
        if session is not None:
            ok = csrf_matches(session, given)
        else:
            expected = request.cookies.get(LOGIN_COOKIE, "")
            ok = bool(given) and bool(expected) and hmac.compare_digest(expected, given)
        if not ok:
            raise Refused("jeton de formulaire absent ou périmé : rechargez la page")


def session(request: Request) -> Session:
    """The session of a route that requires one (the guard has checked it)."""
    found: Session | None = request.state.session
    assert found is not None
    return found


def actor(request: Request) -> Actor:
    return Actor.web(session(request).user.login, request.client.host if request.client else None)


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


class SecurityHeaders:
    """Pure ASGI (streams such as the live progress pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers += HEADERS
                if not any(k == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
