"""The one check every API call goes through before its view: the route's rule (none:
refused), the bearer token (missing, unknown or revoked: 401), the rate limit of that
token (429 with Retry-After), then the scope the rule asks for (403)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from modemd.config import Config
from modemd.operations.actor import Actor
from modemd.operations.tokens import authenticate
from modemd.store.db import Database
from modemd.web.api.problems import ApiError
from modemd.web.api.rules import rule_for

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="modemd"'}


class RateLimit:
    """A token bucket per API token, in memory: ``per_minute`` calls a minute on average,
    as many in a burst. Time comes from a monotonic clock."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, per_minute))
        self._buckets: dict[int, tuple[float, float]] = {}  # token id -> (level, at)
        self._lock = threading.Lock()

    def wait(self, token_id: int, now: float | None = None) -> float:
        """0 and one call counted, or the seconds until the next call is allowed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            level, at = self._buckets.get(token_id, (self.burst, now))
            level = min(self.burst, level + (now - at) * self.rate)
            if level >= 1.0:
                self._buckets[token_id] = (level - 1.0, now)
                return 0.0
            self._buckets[token_id] = (level, now)
            return (1.0 - level) / self.rate if self.rate > 0 else 60.0


@dataclass(frozen=True)
class ApiState:
    config: Config
    db: Database
    limit: RateLimit = field(default_factory=lambda: RateLimit(120))


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


async def api_guard(request: Request) -> None:
    route = request.scope.get("route")
    scope = rule_for(request.method, getattr(route, "path", ""))
    if scope is None:
        raise ApiError(403, "this route has no access rule")
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "an API token is needed: Authorization: Bearer <token>",
                       headers=CHALLENGE)
    client = request.client.host if request.client else None
    state = api_state(request)
    token = await run_in_threadpool(authenticate, state.db, secret.strip(), client)
    if token is None:
        raise ApiError(401, "this token is unknown or revoked", headers=CHALLENGE)
    wait = state.limit.wait(token.id)
    if wait > 0:
        raise ApiError(
            429,
            f"token {token.name} is over its rate limit; try again in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    if scope not in token.scopes:
        raise ApiError(403, f"token {token.name} lacks the scope {scope}")
    request.state.actor = Actor.api(token.name, client)


def actor(request: Request) -> Actor:
    """The caller of a view (the guard has checked its token)."""
    found: Actor = request.state.actor
    return found
