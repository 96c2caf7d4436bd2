"""Expéditeurs SMS (admin): the numbers allowed to raise an alert by SMS; add (with a PIN,
hashed at once), lock, unlock, remove, each through modemd.operations.senders, audited with
the admin as actor. The PIN is never shown again, nor put back in a form."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modemd.operations import senders as ops
from modemd.operations.errors import InvalidInput, NotFound
from modemd.web.guard import actor, state_of
from modemd.web.render import page

router = APIRouter()


def _items(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _senders_page(
    request: Request, error: str = "", status_code: int = 200, form: dict[str, str] | None = None
) -> HTMLResponse:
    return page(
        request, "senders.html", status_code=status_code,
        senders=ops.list_senders(state_of(request).db), now=time.time(), error=error,
        form=form or {},
    )  # fmt: skip


def _failed(request: Request, exc: InvalidInput | NotFound, form: dict[str, str]) -> HTMLResponse:
    text = exc.what if isinstance(exc, NotFound) else "; ".join(p.message for p in exc.problems)
    return _senders_page(request, text, 400, form)


@router.get("/expediteurs")
def senders(request: Request) -> HTMLResponse:
    return _senders_page(request)


@router.post("/expediteurs/ajouter")
def add(
    request: Request,
    phone: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    pin: Annotated[str, Form()] = "",
    communes: Annotated[str, Form()] = "",
    sectors: Annotated[str, Form()] = "",
    categories: Annotated[str, Form()] = "",
) -> Response:
    scope = ops.Scope(_items(communes), _items(sectors), _items(categories))
    # Given back to the form if refused; never the PIN.
    form = {"phone": phone, "name": name, "communes": communes, "sectors": sectors,
            "categories": categories}  # fmt: skip
    try:
        ops.add_sender(state_of(request).db, phone, name, pin.strip(), scope, actor(request))
    except (InvalidInput, NotFound) as exc:
        return _failed(request, exc, form)
    return RedirectResponse("/expediteurs?fait=expediteur", 303)


def _lock(request: Request, phone: str, locked: bool, done: str) -> Response:
    try:
        ops.lock_sender(state_of(request).db, phone, actor(request), locked=locked)
    except NotFound as exc:
        return _failed(request, exc, {})
    return RedirectResponse(f"/expediteurs?fait={done}", 303)


@router.post("/expediteurs/bloquer")
def lock(request: Request, phone: Annotated[str, Form()] = "") -> Response:
    return _lock(request, phone, True, "bloque")


@router.post("/expediteurs/debloquer")
def unlock(request: Request, phone: Annotated[str, Form()] = "") -> Response:
    return _lock(request, phone, False, "debloque")


@router.post("/expediteurs/supprimer")
def remove(request: Request, phone: Annotated[str, Form()] = "") -> Response:
    try:
        ops.remove_sender(state_of(request).db, phone, actor(request))
    except NotFound as exc:
        return _failed(request, exc, {})
    return RedirectResponse("/expediteurs?fait=expediteur-retire", 303)
