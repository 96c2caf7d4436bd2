"""The API as its own ASGI application, mounted by the console's at ``/api/v1``: its own
guard (tokens, scopes, rate limit), its own errors (problem+json), and an OpenAPI 3.1
document made from these routes alone, at ``/api/v1/openapi.json``."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from modemd.config import Config
from modemd.operations.errors import InvalidInput, NotFound
from modemd.store.db import Database
from modemd.web.api import alerts, members, reads
from modemd.web.api.auth import ApiState, RateLimit, api_guard
from modemd.web.api.problems import (
    PREFIX,
    ApiError,
    api_error,
    bad_request,
    http_error,
    invalid_input,
    not_found,
    not_unicode,
)

__all__ = ["PREFIX", "create_api"]


def create_api(config: Config, db: Database) -> FastAPI:
    api = FastAPI(
        title="modemd API",
        version="1",
        description="Raise and follow « Alerte Commerce » SMS alerts, manage members, read "
        "replies. Authorization: Bearer <token> (modemd tokens add NAME --scope ...).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(api_guard)],
    )
    api.state.api = ApiState(config, db, RateLimit(config.web.api_rate_per_minute))
    for module in (alerts, members, reads):
        api.include_router(module.router)
    api.add_exception_handler(ApiError, api_error)
    api.add_exception_handler(InvalidInput, invalid_input)
    api.add_exception_handler(NotFound, not_found)
    api.add_exception_handler(RequestValidationError, bad_request)
    api.add_exception_handler(HTTPException, http_error)
    api.add_exception_handler(UnicodeError, not_unicode)
    return api
