"""Log in and out. The login form has its own CSRF token (a cookie and a hidden field that
must agree) since there is no session yet."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modemd.operations.sessions import LoginRefused, SecondFactorNeeded, log_in, log_out
from modemd.web.guard import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    actor,
    new_login_token,
    over_https,
    session,
    state_of,
)
from modemd.web.render import page

router = APIRouter()


_LOCAL_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")  # printable ASCII, no space, tab or newline


def _safe_back(back: str) -> str:
    """Only a path of this site: never an open redirect to another one (``//host``,
    ``/\\host``, or ``/<tab>/host``, which browsers read as ``//host``)."""
    return back if _LOCAL_PATH.fullmatch(back) and "\\" not in back else "/"


def _login_page(
    request: Request, back: str, error: str = "", login: str = "", code: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    token = new_login_token()
    response = page(
        request, "login.html", status_code=status_code, login_csrf=token, back=back,
        error=error, login=login, ask_code=code,
    )
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=over_https(request),
        path="/connexion",
    )
    return response


@router.get("/connexion")
def login_form(request: Request, suite: str = "/") -> Response:
    if getattr(request.state, "session", None) is not None:
        return RedirectResponse(_safe_back(suite), 303)
    return _login_page(request, _safe_back(suite))


@router.post("/connexion")
def login(
    request: Request,
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    suite: Annotated[str, Form()] = "/",
) -> Response:
    web = state_of(request)
    client = request.client.host if request.client else None
    back = _safe_back(suite)
    if web.throttle.blocked(client):
        return _login_page(
            request, back, "trop d'échecs depuis cette adresse : réessayez plus tard",
            login, status_code=429,
        )
    try:
        opened = log_in(
            web.db, login.strip(), password, code=code, client=client,
            session_hours=web.config.web.session_hours,
            require_totp_for=web.config.web.require_totp_for,
        )
    except LoginRefused as exc:
        if not isinstance(exc, SecondFactorNeeded):
            web.throttle.note_failure(client)
        return _login_page(
            request, back, exc.message, login, code=isinstance(exc, SecondFactorNeeded),
            status_code=401,
        )
    response = RedirectResponse(back, 303)
    response.set_cookie(
        SESSION_COOKIE, opened.token, max_age=int(web.config.web.session_hours * 3600),
        httponly=True, samesite="strict", secure=over_https(request), path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/connexion")
    return response


@router.post("/deconnexion")
def logout(request: Request) -> Response:
    log_out(state_of(request).db, session(request), actor(request))
    response = RedirectResponse("/connexion", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
