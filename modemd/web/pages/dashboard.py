"""Tableau de bord: each channel with its signal, network and SIM windows (and when a
blocked one reopens), what is queued, open problems, the last alerts; for an admin, each
webhook's queue and the events it gave up on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from modemd.operations.alerts import list_alerts
from modemd.operations.status import status
from modemd.operations.webhooks import webhook_health
from modemd.web.guard import session, state_of
from modemd.web.render import page

router = APIRouter()

WINDOW_NAMES = {
    "per_minute": "parties par minute",
    "per_hour": "parties par heure",
    "per_day": "parties par 24 h",
    "distinct_recipients_per_day": "destinataires par 24 h",
    "distinct_recipients_per_month": "destinataires par 31 jours",
}


@router.get("/")
def dashboard(request: Request) -> HTMLResponse:
    web = state_of(request)
    view = status(web.config, web.db)
    live = view.live
    channels: list[dict[str, Any]] = []
    if live is not None:
        channels = live.get("modems") or [
            {
                "name": "modem",
                "role": "both",
                "modem": live["modem"],
                "dispatcher": live["dispatcher"],
                "throttle": live["throttle"],
            }
        ]
    return page(
        request,
        "dashboard.html",
        view=view,
        channels=channels,
        notices=(live or {}).get("notices", []),
        windows=view.windows,
        window_names=WINDOW_NAMES,
        recent=list_alerts(web.db, limit=8),
        # Webhooks' URLs are the administrator's business (one may carry a key).
        webhooks=webhook_health(web.db) if session(request).user.role == "admin" else [],
    )
