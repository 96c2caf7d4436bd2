"""``/members``: the registry — list, add, read, change, remove, import a CSV, approve."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from modemd.members.registry import Details, Subscriber
from modemd.operations import members as ops
from modemd.operations.actor import Actor
from modemd.web.api.auth import actor, api_state
from modemd.web.api.models import (
    Approved,
    ImportOut,
    LineProblem,
    MemberChange,
    MemberIn,
    MemberOut,
    MemberPage,
    MemberPatch,
)
from modemd.web.api.problems import ERRORS, ApiError

router = APIRouter(prefix="/members", tags=["members"], responses=ERRORS)
MAX_CSV = 20 * 1024 * 1024  # far more than any chamber's members list


def _out(m: Subscriber) -> MemberOut:
    return MemberOut(
        phone=m.phone, name=m.name, commune=m.commune, sector=m.sector, status=m.status,
        request=m.request,
    )


@router.get("", response_model=MemberPage, summary="Members a filter selects, one page")
def list_members(
    request: Request,
    status: Literal["active", "pending", "unsubscribed"] | None = None,
    q: Annotated[str, Query(max_length=100)] = "",
    commune: Annotated[str, Query(max_length=100)] = "",
    sector: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> MemberPage:
    found, total = ops.search_members(
        api_state(request).db, status=status, text=q, commune=commune, sector=sector,
        limit=limit, offset=offset,
    )
    return MemberPage(members=[_out(m) for m in found], total=total)


@router.post(
    "",
    status_code=201,
    response_model=MemberChange,
    responses={200: {"model": MemberChange, "description": "the member was there: updated"}},
    summary="Add a member (or update one)",
)
def add_member(
    request: Request, member: MemberIn, who: Annotated[Actor, Depends(actor)]
) -> JSONResponse:
    added = ops.add_member(
        api_state(request).db,
        member.phone,
        Details(member.name.strip(), member.commune.strip(), member.sector.strip()),
        who,
    )
    body = MemberChange(member=_out(added.member), outcome=added.outcome)
    return JSONResponse(body.model_dump(), 201 if added.outcome == "added" else 200)


@router.post(
    "/import",
    response_model=ImportOut,
    summary="Import a CSV (header row with phone, and name, commune, sector)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_members(request: Request, who: Annotated[Actor, Depends(actor)]) -> ImportOut:
    data = await request.body()
    if len(data) > MAX_CSV:
        raise ApiError(413, f"a CSV of at most {MAX_CSV // (1024 * 1024)} MiB")
    done = await run_in_threadpool(
        ops.import_members_data, api_state(request).db, data, "api-upload.csv", who
    )
    r = done.report
    return ImportOut(
        added=r.added,
        updated=r.updated,
        skipped=len(r.problems),
        problems=[
            LineProblem(field=p.field, message=p.message, line=p.line) for p in done.problems
        ],
    )


@router.get("/{phone}", response_model=MemberOut, summary="One member")
def get_member(request: Request, phone: str) -> MemberOut:
    return _out(ops.get_member(api_state(request).db, phone))


@router.patch("/{phone}", response_model=MemberChange, summary="Change details, or unsubscribe")
def patch_member(
    request: Request, phone: str, change: MemberPatch, who: Annotated[Actor, Depends(actor)]
) -> MemberChange:
    state = api_state(request)
    if change.status == "unsubscribed":
        ops.unsubscribe(state.config, state.db, phone, who)
    changed = ops.update_member(
        state.db, phone, name=change.name, commune=change.commune, sector=change.sector,
        actor=who,
    )
    outcome = "unsubscribed" if change.status == "unsubscribed" else changed.outcome
    return MemberChange(member=_out(changed.member), outcome=outcome)


@router.delete("/{phone}", status_code=204, summary="Remove a member")
def delete_member(request: Request, phone: str, who: Annotated[Actor, Depends(actor)]) -> Response:
    ops.remove_member(api_state(request).db, phone, who)
    return Response(status_code=204)


@router.post("/{phone}/approve", response_model=Approved, summary="Approve a join request")
def approve(request: Request, phone: str, who: Annotated[Actor, Depends(actor)]) -> Approved:
    state = api_state(request)
    done = ops.approve(state.config, state.db, phone, Details(), who)
    return Approved(member=_out(done.approval.member), missing=list(done.missing))
