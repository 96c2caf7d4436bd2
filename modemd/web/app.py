"""The console as an ASGI application: every router behind the guard, the static files of
the package, errors as French pages. FastAPI (over Starlette) is the framework: maintained,
pure Python with pydantic's prebuilt wheels for arm64 and armhf, and the same app will
serve the HTTP API with its OpenAPI 3.1 document generated from the code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from modemd.config import Config
from modemd.store.db import Database, open_database
from modemd.web.api.app import PREFIX, create_api
from modemd.web.api.problems import problem_response
from modemd.web.guard import NeedsLogin, Refused, SecurityHeaders, WebState, guard, login_url
from modemd.web.pages import (
    alerts,
    auth,
    dashboard,
    members,
    replies,
    senders,
    tokens,
    users,
    webhooks,
)
from modemd.web.render import page

# Views run in worker threads (SQLite is synchronous). A handful is plenty for a console
# used by a few people at once, and each thread would keep its own malloc arena: on a Pi,
# memory matters more than a hundred concurrent requests.
WORKER_THREADS = 8


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield


def create_app(config: Config, db: Database | None = None) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="modemd",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(guard)],
    )
    app.state.web = WebState(config, db if db is not None else open_database(config.state_dir))
    # The API is its own application: its tokens, not the console's sessions, guard it.
    app.mount(PREFIX, create_api(config, app.state.web.db))
    for module in (auth, dashboard, alerts, members, replies, users, senders, tokens, webhooks):
        app.include_router(module.router, include_in_schema=False)
    static = resources.files("modemd.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(NeedsLogin)
    async def to_login(request: Request, exc: NeedsLogin) -> Response:
        return RedirectResponse(login_url(exc.back), 303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return page(request, "refused.html", 403, heading="Accès refusé", why=exc.why)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith(PREFIX + "/"):
            # Under the API but matched by none of its routes (a path the mount cannot
            # take, such as one holding a newline): answered as the API answers.
            return problem_response(exc.status_code, "no such route in the API")
        heading = "Page introuvable" if exc.status_code == 404 else "Requête refusée"
        why = str(exc.detail) if exc.status_code != 404 else "cette adresse ne mène à rien"
        return page(request, "refused.html", exc.status_code, heading=heading, why=why)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return page(request, "refused.html", 400, heading="Requête refusée",
                    why="adresse ou formulaire incomplet")

    app.add_middleware(SecurityHeaders)
    return app
