"""Webhooks (admin): the programs told of events — those of the configuration file (shown,
changed there) and those added here; add one (its secret shown on that answer only) or
remove it, through modemd.operations.webhook_settings; each one's queue and failures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modemd.config import WEBHOOK_EVENTS
from modemd.operations import webhook_settings as ops
from modemd.operations.errors import InvalidInput, NotFound
from modemd.operations.webhooks import webhook_health
from modemd.web.guard import actor, state_of
from modemd.web.render import page

router = APIRouter()


def _page(
    request: Request, error: str = "", status_code: int = 200, made: tuple[str, str] | None = None
) -> HTMLResponse:
    web = state_of(request)
    health = {h.url: h for h in webhook_health(web.db)}
    return page(
        request, "webhooks.html", status_code=status_code,
        webhooks=ops.all_webhooks(web.config, web.db), health=health, events=WEBHOOK_EVENTS,
        error=error, made=made,
    )  # fmt: skip


@router.get("/webhooks")
def webhooks(request: Request) -> HTMLResponse:
    return _page(request)


@router.post("/webhooks/ajouter")
def add(
    request: Request,
    url: Annotated[str, Form()] = "",
    event: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse:
    web = state_of(request)
    try:
        secret = ops.add_webhook(web.db, web.config, url, event or [], actor(request))
    except InvalidInput as exc:
        return _page(request, "; ".join(p.message for p in exc.problems), 400)
    # Not a redirect: the secret is on this answer only.
    return _page(request, made=(url.strip(), secret))


@router.post("/webhooks/supprimer")
def remove(request: Request, url: Annotated[str, Form()] = "") -> Response:
    try:
        ops.remove_webhook(state_of(request).db, url, actor(request))
    except NotFound as exc:
        return _page(request, exc.what, 400)
    return RedirectResponse("/webhooks?fait=webhook-retire", 303)
