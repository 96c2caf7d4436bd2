"""Membres: the registry with filters, add and edit, remove, opt-outs, CSV import with its
per-line report, export, and the join requests waiting (approve or reject)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modemd.members.registry import Details
from modemd.operations import members as ops
from modemd.operations.errors import InvalidInput, NotFound
from modemd.web.guard import actor, state_of
from modemd.web.render import page

router = APIRouter()
PAGE_SIZE = 100
MAX_UPLOAD = 5 * 1024 * 1024  # a CSV of a département's shops is far below this


def _members_page(
    request: Request, error: str = "", status_code: int = 200, **filters: str
) -> HTMLResponse:
    web = state_of(request)
    q = request.query_params
    chosen = {k: filters.get(k, q.get(k, "")) for k in ("statut", "q", "commune", "metier")}
    try:
        start = max(int(q.get("depuis", "0")), 0)
    except ValueError:
        start = 0
    found, total = ops.search_members(
        web.db,
        status=chosen["statut"] if chosen["statut"] in ("active", "pending", "unsubscribed")
        else None,
        text=chosen["q"], commune=chosen["commune"], sector=chosen["metier"],
        limit=PAGE_SIZE, offset=start,
    )
    editing = None
    if q.get("modifier"):
        try:
            editing = ops.get_member(web.db, q["modifier"])
        except (InvalidInput, NotFound):
            editing = None
    return page(
        request, "members.html", status_code=status_code, members=found, total=total,
        editing=editing,
        start=start, size=PAGE_SIZE, chosen=chosen, counts=ops.member_counts(web.db),
        choices=ops.target_choices(web.db), error=error,
    )


@router.get("/membres")
def members(request: Request) -> HTMLResponse:
    return _members_page(request)


def _back(request: Request, done: str, to: str = "/membres") -> Response:
    return RedirectResponse(f"{to}?fait={done}", 303)


def _problem(request: Request, exc: InvalidInput | NotFound, to: str = "members") -> HTMLResponse:
    text = exc.what if isinstance(exc, NotFound) else "; ".join(p.message for p in exc.problems)
    if to == "requests":
        return _requests_page(request, text, 400)
    return _members_page(request, text, 400)


@router.post("/membres/ajouter")
def add(
    request: Request,
    phone: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    commune: Annotated[str, Form()] = "",
    sector: Annotated[str, Form()] = "",
) -> Response:
    try:
        ops.add_member(state_of(request).db, phone, Details(name.strip(), commune.strip(),
                       sector.strip()), actor(request))
    except (InvalidInput, NotFound) as exc:
        return _problem(request, exc)
    return _back(request, "ajoute")


@router.post("/membres/supprimer")
def remove(request: Request, phone: Annotated[str, Form()] = "") -> Response:
    try:
        ops.remove_member(state_of(request).db, phone, actor(request))
    except (InvalidInput, NotFound) as exc:
        return _problem(request, exc)
    return _back(request, "supprime")


@router.post("/membres/desinscrire")
def unsubscribe(request: Request, phone: Annotated[str, Form()] = "") -> Response:
    web = state_of(request)
    try:
        ops.unsubscribe(web.config, web.db, phone, actor(request))
    except (InvalidInput, NotFound) as exc:
        return _problem(request, exc)
    return _back(request, "desinscrit")


@router.get("/membres/import")
def import_form(request: Request) -> HTMLResponse:
    return page(request, "import.html", result=None, error="", filename="")


@router.post("/membres/import")
async def import_file(request: Request, file: UploadFile | None = None) -> HTMLResponse:
    web = state_of(request)
    if file is None or not file.filename:
        return page(request, "import.html", 400, result=None, error="choisissez un fichier CSV",
                    filename="")
    data = await file.read(MAX_UPLOAD + 1)
    name = Path(file.filename).name or "membres.csv"
    if len(data) > MAX_UPLOAD:
        return page(request, "import.html", 400, result=None, filename=name,
                    error="fichier trop gros (5 Mo au plus)")
    with tempfile.TemporaryDirectory(prefix="modemd-import-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            result = ops.import_members(web.db, path, actor(request))
        except InvalidInput as exc:
            return page(request, "import.html", 400, result=None, filename=name,
                        error="; ".join(p.message for p in exc.problems))
    return page(request, "import.html", result=result, error="", filename=name)


@router.get("/membres/export.csv")
def export(request: Request, langue: str = "fr") -> Response:
    with tempfile.TemporaryDirectory(prefix="modemd-export-") as tmp:
        path = Path(tmp) / "membres.csv"
        ops.export_members(state_of(request).db, path, "en" if langue == "en" else "fr")
        data = path.read_bytes()
    return Response(
        data, media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="membres.csv"'},
    )


def _requests_page(request: Request, error: str = "", status_code: int = 200) -> HTMLResponse:
    web = state_of(request)
    return page(request, "requests.html", status_code=status_code,
                waiting=ops.list_members(web.db, "pending"), error=error)


@router.get("/membres/demandes")
def requests(request: Request) -> HTMLResponse:
    return _requests_page(request)


@router.post("/membres/approuver")
def approve(
    request: Request,
    phone: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    commune: Annotated[str, Form()] = "",
    sector: Annotated[str, Form()] = "",
) -> Response:
    web = state_of(request)
    try:
        ops.approve(web.config, web.db, phone, Details(name.strip(), commune.strip(),
                    sector.strip()), actor(request))
    except (InvalidInput, NotFound) as exc:
        return _problem(request, exc, "requests")
    return _back(request, "approuve", "/membres/demandes")


@router.post("/membres/rejeter")
def reject(request: Request, phone: Annotated[str, Form()] = "") -> Response:
    try:
        ops.reject(state_of(request).db, phone, actor(request))
    except (InvalidInput, NotFound) as exc:
        return _problem(request, exc, "requests")
    return _back(request, "rejete", "/membres/demandes")


@router.get("/membres/desinscriptions")
def optouts(request: Request) -> HTMLResponse:
    return page(request, "optouts.html", optouts=ops.optouts(state_of(request).db))
