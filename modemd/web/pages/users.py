"""Utilisateurs (admin): add, change a password, disable, enable, remove; each through
modemd.operations.users, audited with the admin as actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modemd.operations import users as ops
from modemd.operations.errors import InvalidInput, NotFound
from modemd.operations.users import ROLES
from modemd.web.guard import actor, session, state_of
from modemd.web.render import page

router = APIRouter()


def _users_page(
    request: Request, error: str = "", status_code: int = 200, totp: tuple[str, str] | None = None
) -> HTMLResponse:
    return page(request, "users.html", status_code=status_code,
                users=ops.list_users(state_of(request).db), roles=ROLES, error=error, totp=totp)


def _failed(request: Request, exc: InvalidInput | NotFound) -> HTMLResponse:
    text = exc.what if isinstance(exc, NotFound) else "; ".join(p.message for p in exc.problems)
    return _users_page(request, text, 400)


@router.get("/utilisateurs")
def users(request: Request) -> HTMLResponse:
    return _users_page(request)


@router.post("/utilisateurs/ajouter")
def add(
    request: Request,
    login: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    try:
        ops.add_user(state_of(request).db, login.strip(), role, password, actor(request))
    except (InvalidInput, NotFound) as exc:
        return _failed(request, exc)
    return RedirectResponse("/utilisateurs?fait=utilisateur", 303)


@router.post("/utilisateurs/{login}/mot-de-passe")
def password(request: Request, login: str, password: Annotated[str, Form()] = "") -> Response:
    try:
        ops.set_password(state_of(request).db, login, password, actor(request))
    except (InvalidInput, NotFound) as exc:
        return _failed(request, exc)
    return RedirectResponse("/utilisateurs?fait=motdepasse", 303)


def _self(request: Request, login: str) -> bool:
    return session(request).user.login == login


@router.post("/utilisateurs/{login}/desactiver")
def disable(request: Request, login: str) -> Response:
    if _self(request, login):
        return _users_page(request, "vous ne pouvez pas désactiver votre propre compte", 400)
    try:
        ops.set_disabled(state_of(request).db, login, True, actor(request))
    except NotFound as exc:
        return _failed(request, exc)
    return RedirectResponse("/utilisateurs?fait=desactive", 303)


@router.post("/utilisateurs/{login}/activer")
def enable(request: Request, login: str) -> Response:
    try:
        ops.set_disabled(state_of(request).db, login, False, actor(request))
    except NotFound as exc:
        return _failed(request, exc)
    return RedirectResponse("/utilisateurs?fait=active", 303)


@router.post("/utilisateurs/{login}/supprimer")
def remove(request: Request, login: str) -> Response:
    if _self(request, login):
        return _users_page(request, "vous ne pouvez pas supprimer votre propre compte", 400)
    try:
        ops.remove_user(state_of(request).db, login, actor(request))
    except NotFound as exc:
        return _failed(request, exc)
    return RedirectResponse("/utilisateurs?fait=retire", 303)


@router.post("/utilisateurs/{login}/role")
def role(request: Request, login: str, role: Annotated[str, Form()] = "") -> Response:
    if _self(request, login):
        return _users_page(request, "vous ne pouvez pas changer votre propre rôle", 400)
    try:
        ops.set_role(state_of(request).db, login, role, actor(request))
    except (InvalidInput, NotFound) as exc:
        return _failed(request, exc)
    return RedirectResponse("/utilisateurs?fait=role", 303)


@router.post("/utilisateurs/{login}/totp")
def totp(request: Request, login: str) -> Response:
    """A new second factor: its otpauth:// URI shown on this answer only, never again."""
    try:
        uri = ops.set_totp(state_of(request).db, login, True, actor(request))
    except NotFound as exc:
        return _failed(request, exc)
    assert uri is not None
    return _users_page(request, totp=(login, uri))


@router.post("/utilisateurs/{login}/totp/retirer")
def totp_off(request: Request, login: str) -> Response:
    try:
        ops.set_totp(state_of(request).db, login, False, actor(request))
    except NotFound as exc:
        return _failed(request, exc)
    return RedirectResponse("/utilisateurs?fait=totp", 303)
