"""Réponses (free-text SMS, newest first, marked handled by whom) and the Journal (who did
what)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modemd.operations.audit import audit_trail, parse_since
from modemd.operations.errors import InvalidInput, NotFound
from modemd.operations.replies import list_replies, mark_handled
from modemd.web.guard import actor, state_of
from modemd.web.render import page

router = APIRouter()
JOURNAL_LINES = 300


@router.get("/reponses")
def replies(request: Request) -> HTMLResponse:
    return page(request, "replies.html", replies=list_replies(state_of(request).db))


@router.post("/reponses/{reply_id}/traitee")
def handled(request: Request, reply_id: int) -> Response:
    try:
        mark_handled(state_of(request).db, reply_id, actor(request))
    except NotFound:
        return page(request, "refused.html", 404, heading="Réponse introuvable",
                    why="aucune réponse ne porte ce numéro")
    return RedirectResponse("/reponses?fait=traitee", 303)


@router.get("/journal")
def journal(
    request: Request, depuis: str = "", acteur: str = "", envois: str = ""
) -> HTMLResponse:
    db = state_of(request).db
    error = ""
    since = None
    if depuis:
        try:
            since = parse_since(depuis)
        except InvalidInput as exc:
            error = exc.problems[0].message
    found = audit_trail(
        db, since, acteur or None, latest=JOURNAL_LINES, per_recipient=bool(envois)
    )
    return page(request, "journal.html", entries=list(reversed(found)), depuis=depuis,
                acteur=acteur, envois=bool(envois), error=error, lines=JOURNAL_LINES)
