"""``/alerts``: raise an alert (once per key), preview it, list, follow and cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from modemd.operations import alerts as ops
from modemd.operations.actor import Actor
from modemd.operations.idempotency import submit_once
from modemd.operations.queries import progress
from modemd.web.api.auth import actor, api_state
from modemd.web.api.models import (
    AlertAccepted,
    AlertDetail,
    AlertIn,
    AlertOut,
    CancelOut,
    Preview,
    Recipient,
)
from modemd.web.api.problems import ERRORS

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=ERRORS)


@router.post(
    "",
    status_code=201,
    response_model=AlertAccepted,
    responses={200: {"model": AlertAccepted, "description": "the alert was accepted before"}},
    summary="Raise an alert (the alert file's fields)",
)
def create_alert(
    request: Request,
    alert: AlertIn,
    who: Annotated[Actor, Depends(actor)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    state = api_state(request)
    answer = submit_once(state.config, state.db, alert.fields(), idempotency_key, who)
    return JSONResponse(answer.body, answer.status)


@router.post("/preview", response_model=Preview, summary="What `alert send --check` prints")
def preview_alert(request: Request, alert: AlertIn) -> Preview:
    state = api_state(request)
    checked = ops.check_alert(
        state.config, state.db, ops.alert_from_mapping(alert.fields(), state.config)
    )
    return Preview(recipients=checked.recipients, report=checked.report)


@router.get("", response_model=list[AlertOut], summary="The latest alerts, newest first")
def list_alerts(
    request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 20
) -> list[dict[str, Any]]:
    return [p.as_dict() for p in ops.list_alerts(api_state(request).db, limit)]


@router.get("/{alert_id}", response_model=AlertDetail, summary="Progress and delivery counts")
def get_alert(request: Request, alert_id: str) -> dict[str, Any]:
    db = api_state(request).db
    detail = ops.show_alert(db, alert_id)
    counts = progress(db, alert_id=detail["id"], limit=1)[0].as_dict()
    return {
        **counts,
        "key": detail["idempotency_key"],
        "message": detail["message"],
        "advice": detail["advice"],
        "text": detail["text"],
        "encoding": detail["encoding"],
        "target": detail["target"],
        "finished_at": detail["finished_at"],
    }


@router.get("/{alert_id}/recipients", response_model=list[Recipient], summary="Each recipient")
def recipients(request: Request, alert_id: str) -> list[dict[str, Any]]:
    detail = ops.show_alert(api_state(request).db, alert_id)
    found: list[dict[str, Any]] = detail["deliveries"]
    return found


@router.post("/{alert_id}/cancel", response_model=CancelOut, summary="Cancel what is unsent")
def cancel(request: Request, alert_id: str, who: Annotated[Actor, Depends(actor)]) -> CancelOut:
    done = ops.cancel_alert(api_state(request).db, alert_id, who)
    return CancelOut(
        alert_id=done.alert_id, already=done.already, cancelled=done.cancelled, begun=done.begun
    )
