"""Errors as RFC 9457 ``application/problem+json``: a title, the status, a sentence, and for
bad input each problem with the field it is about (and the CSV line, where there is one)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from modemd.operations.errors import InvalidInput, NotFound, Problem
from modemd.web.api.rules import RULES

PREFIX = "/api/v1"  # where the console mounts the API

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
}


class FieldProblem(BaseModel):
    field: str | None
    message: str
    line: int | None = None


class ProblemDoc(BaseModel):
    """What every error answers (RFC 9457), ``errors`` naming each field at fault."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = []


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        problems: list[Problem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.problems = problems or []
        self.headers = headers or {}
        super().__init__(detail)


def problem_response(
    status: int,
    detail: str,
    problems: list[Problem] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    doc = ProblemDoc(
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=[
            FieldProblem(field=p.field, message=p.message, line=p.line) for p in problems or []
        ],
    )
    return Response(
        json.dumps(doc.model_dump(), ensure_ascii=False), status, headers, MEDIA_TYPE
    )


def _location(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """pydantic's ('body', 'target', 'communes', 0) as 'target.communes'."""
    names = [str(p) for p in loc[1:] if isinstance(p, str)] if len(loc) > 1 else []
    if loc and loc[0] == "header" and names:
        return "-".join(w.capitalize() for w in names[-1].split("_"))
    return ".".join(names) or None


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(exc.status, exc.detail, exc.problems, exc.headers)


async def invalid_input(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInput)
    return problem_response(422, str(exc), exc.problems)


async def not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotFound)
    return problem_response(404, exc.what)


async def bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        Problem(_location(e.get("loc", ())), f"{_location(e.get('loc', ())) or 'body'}: "
                f"{e.get('msg', 'invalid')}")
        for e in exc.errors()
    ]
    return problem_response(422, "; ".join(p.message for p in problems), problems)


def allowed_methods(path: str) -> list[str]:
    """Every method some route takes at this path (Starlette names only the first route's
    in a 405's Allow); the rule table lists them all."""
    relative = path.removeprefix(PREFIX) or "/"
    matching = [(m, t) for (m, t) in RULES if compile_path(t)[0].match(relative)]
    # A literal path (/alerts/preview) is its own resource, not one of /alerts/{alert_id}.
    exact = [(m, t) for (m, t) in matching if t == relative]
    return sorted({m for m, _ in exact or matching})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = "no such route in the API" if exc.status_code == 404 else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request.url.path))
    return problem_response(exc.status_code, detail, headers=headers)


async def not_unicode(request: Request, exc: Exception) -> Response:
    """A JSON string with a lone surrogate is valid JSON but no text: refused, not a 500."""
    return problem_response(422, "the input holds text that is not valid Unicode")


# The errors each route may answer, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "model": ProblemDoc,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDoc"}}},
        "description": TITLES[code],
    }
    for code in (400, 401, 403, 404, 422, 429)
}
