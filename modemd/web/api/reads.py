"""``/inbound`` and ``/status``: what came back, and the live state."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from modemd.operations.replies import list_inbound
from modemd.operations.status import status
from modemd.web.api.auth import api_state
from modemd.web.api.models import InboundOut
from modemd.web.api.problems import ERRORS

router = APIRouter(responses=ERRORS)


@router.get(
    "/inbound", response_model=list[InboundOut], tags=["inbound"],
    summary="Inbound SMS after an id (a reader's cursor), oldest first",
)
def inbound(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    kind: Annotated[str | None, Query(pattern="^(stop|join|help|other|report)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return [r.__dict__ for r in list_inbound(api_state(request).db, after=after, kind=kind,
                                              limit=limit)]


@router.get("/status", response_model=dict[str, Any], tags=["status"],
            summary="The daemon, each SIM's windows, the alerts in progress")
def get_status(request: Request) -> dict[str, Any]:
    state = api_state(request)
    return status(state.config, state.db).as_dict()
