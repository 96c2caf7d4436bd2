"""Jetons API (admin): the HTTP API's tokens — made (the secret shown on this one answer,
never again), listed with their scopes and last use, revoked — through
modemd.operations.tokens, audited with the admin as actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modemd.operations import tokens as ops
from modemd.operations.errors import InvalidInput, NotFound
from modemd.web.guard import actor, state_of
from modemd.web.render import page

router = APIRouter()


def _tokens_page(
    request: Request, error: str = "", status_code: int = 200, made: ops.NewToken | None = None
) -> HTMLResponse:
    return page(
        request, "tokens.html", status_code=status_code,
        tokens=ops.list_tokens(state_of(request).db), scopes=ops.SCOPES, error=error, made=made,
    )  # fmt: skip


@router.get("/jetons")
def tokens(request: Request) -> HTMLResponse:
    return _tokens_page(request)


@router.post("/jetons/ajouter")
def add(
    request: Request,
    name: Annotated[str, Form()] = "",
    scope: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse:
    try:
        made = ops.add_token(
            state_of(request).db, name.strip(), ops.scopes_of(scope or []), actor(request)
        )
    except InvalidInput as exc:
        return _tokens_page(request, "; ".join(p.message for p in exc.problems), 400)
    # Not a redirect: the secret is on this answer only (never stored, never cached).
    return _tokens_page(request, made=made)


@router.post("/jetons/revoquer")
def revoke(request: Request, name: Annotated[str, Form()] = "") -> Response:
    try:
        ops.revoke_token(state_of(request).db, name, actor(request))
    except NotFound as exc:
        return _tokens_page(request, exc.what, 400)
    return RedirectResponse("/jetons?fait=jeton-revoque", 303)
