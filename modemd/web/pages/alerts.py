"""Nouvelle alerte (live preview, confirmation with the recipient count, send), the list of
alerts, one alert live (progress pushed by Server-Sent Events) and its cancellation."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.concurrency import run_in_threadpool

from modemd.operations import alerts as ops
from modemd.operations.errors import InvalidInput, NotFound, Problem
from modemd.operations.members import target_choices
from modemd.operations.preview import preview_alert
from modemd.operations.queries import progress, recipient_states
from modemd.web.guard import WebState, actor, state_of
from modemd.web.render import page

router = APIRouter()

EXPIRIES = [("30m", "30 minutes"), ("1h", "1 heure"), ("2h", "2 heures"), ("6h", "6 heures"),
            ("12h", "12 heures"), ("24h", "24 heures")]
PUSH_EVERY = 0.25  # seconds between two looks at the database for the live progress


async def _fields(request: Request) -> dict[str, Any]:
    """The form as an alert file's keys: what is left empty is left out (the defaults of
    the configuration apply, as in a file)."""
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    fields: dict[str, Any] = {"message": text("message")}
    for key in ("category", "advice", "priority", "expires_after", "id"):
        if text(key):
            fields[key] = text(key)
    target = {
        key: [v for v in form.getlist(key) if isinstance(v, str) and v.strip()]
        for key in ("communes", "sectors")
    }
    if any(target.values()):
        fields["target"] = {k: v for k, v in target.items() if v}
    return fields


def _by_field(problems: list[Problem]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in problems:
        key = (p.field or "").split(".")[0] or "general"
        found.setdefault(key, []).append(p.message)
    return found


def _form_page(
    request: Request, fields: dict[str, Any], problems: list[Problem] | None = None
) -> HTMLResponse:
    web = state_of(request)
    defaults = web.config.alerts
    return page(
        request,
        "alert_new.html",
        status_code=400 if problems else 200,
        fields=fields,
        target=fields.get("target", {}),
        errors=_by_field(problems or []),
        choices=target_choices(web.db),
        expiries=EXPIRIES,
        default_priority=defaults.default_priority,
        default_expiry=defaults.expires_after,
        default_advice=defaults.default_advice,
    )


@router.get("/alertes/nouvelle")
def new_alert(request: Request) -> HTMLResponse:
    return _form_page(request, {})


@router.post("/alertes/apercu")
async def preview(request: Request) -> JSONResponse:
    web = state_of(request)
    fields = await _fields(request)
    shown = await run_in_threadpool(preview_alert, web.config, web.db, fields)
    return JSONResponse(shown.as_dict())


@router.post("/alertes/confirmer")
async def confirm(request: Request) -> HTMLResponse:
    web = state_of(request)
    fields = await _fields(request)
    try:
        checked = await run_in_threadpool(_check, web, fields)
    except InvalidInput as exc:
        return _form_page(request, fields, exc.problems)
    # One key per confirmation page: sending it twice (a double click, a reload) is one alert.
    fields.setdefault("id", "web-" + secrets.token_hex(8))
    return page(request, "alert_confirm.html", fields=fields, check=checked,
                target=fields.get("target", {}))


def _check(web: WebState, fields: dict[str, Any]) -> ops.AlertCheck:
    return ops.check_alert(web.config, web.db, ops.alert_from_mapping(fields, web.config))


@router.post("/alertes/envoyer")
async def send(request: Request) -> Response:
    web = state_of(request)
    fields = await _fields(request)
    try:
        request_ = ops.alert_from_mapping(fields, web.config)
        done = await run_in_threadpool(ops.submit_alert, web.config, web.db, request_,
                                       actor(request))
    except InvalidInput as exc:
        return _form_page(request, fields, exc.problems)
    return RedirectResponse(
        f"/alertes/{done.alert_id}?fait={'deja' if done.duplicate else 'envoyee'}", 303
    )


@router.get("/alertes")
def alert_list(request: Request, combien: int = 50) -> HTMLResponse:
    web = state_of(request)
    return page(request, "alerts.html", recent=ops.list_alerts(web.db, min(max(combien, 1), 500)))


@router.get("/alertes/{alert_id}")
def alert_page(request: Request, alert_id: str) -> HTMLResponse:
    web = state_of(request)
    try:
        detail = ops.show_alert(web.db, alert_id)
    except NotFound:
        return page(request, "refused.html", 404, heading="Alerte introuvable",
                    why="aucune alerte ne porte cet identifiant")
    now = progress(web.db, alert_id=detail["id"], limit=1)[0]
    return page(request, "alert.html", alert=detail, now=now)


def _progress_event(web: WebState, alert_id: str) -> tuple[str, bool]:
    found = progress(web.db, alert_id=alert_id, limit=1)
    if not found:
        return "", True
    p = found[0]
    data = {**p.as_dict(), "recipients": recipient_states(web.db, p.alert_id)}
    return json.dumps(data, ensure_ascii=False), p.state != "active" and p.unsent == 0


@router.get("/alertes/{alert_id}/flux", response_model=None)
async def alert_stream(request: Request, alert_id: str) -> Response:
    """Server-Sent Events: the alert's counts each time they change, within PUSH_EVERY.
    Once the alert is over, a last event and a little longer for late delivery reports."""
    web = state_of(request)
    if not progress(web.db, alert_id=alert_id, limit=1):
        return page(request, "refused.html", 404, heading="Alerte introuvable",
                    why="aucune alerte ne porte cet identifiant")

    async def events() -> AsyncIterator[str]:
        last = ""
        quiet_after_end = 0
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            data, over = await run_in_threadpool(_progress_event, web, alert_id)
            if not data:
                return
            if data != last:
                last = data
                yield f"event: progress\ndata: {data}\n\n"
            if over:
                quiet_after_end += 1
                if quiet_after_end > 120:  # 30 s after the end: reports came or won't soon
                    yield "event: end\ndata: {}\n\n"
                    return
            await asyncio.sleep(PUSH_EVERY)

    return StreamingResponse(
        events(), media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


@router.post("/alertes/{alert_id}/annuler")
def cancel(request: Request, alert_id: str) -> Response:
    web = state_of(request)
    try:
        ops.cancel_alert(web.db, alert_id, actor(request))
    except NotFound:
        return page(request, "refused.html", 404, heading="Alerte introuvable",
                    why="aucune alerte ne porte cet identifiant")
    return RedirectResponse(f"/alertes/{alert_id}?fait=annulee", 303)
