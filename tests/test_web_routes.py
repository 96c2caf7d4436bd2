"""Every route of the console, for every role and for no session, over real HTTP: the rule
table says allowed (neither 403 nor the login page), refused (403) or, without a session,
off to the login page. A route added without a rule in modemd/web/rules.py fails here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from modemd.config import Config, ModemConfig
from modemd.store.db import open_database
from modemd.web.app import create_app
from modemd.web.rules import PUBLIC, RULES, allowed, rule_for
from tests.web_support import (
    ROLES,
    csrf_of,
    log_in,
    logged_in,
    login_token,
    make_users,
    serving,
)

SAMPLE = {"alert_id": "no-such-alert", "reply_id": "1", "login": "nobody"}


def _config(tmp: Path) -> Config:
    return Config(
        modem=ModemConfig(port="sim://"), spool_dir=tmp / "spool", state_dir=tmp / "state"
    )


def routes(app: object) -> list[tuple[str, str]]:
    """(method, path) of every view, walking into included routers (recent FastAPI keeps
    them nested; the console includes them without a prefix)."""
    found: list[tuple[str, str]] = []

    def walk(items: list[object]) -> None:
        for route in items:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, APIRoute):
                found.extend((method, route.path) for method in sorted(route.methods))

    walk(app.routes)  # type: ignore[attr-defined]
    assert len(found) >= len(RULES) // 2, "the walk missed the routes"
    return found


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    tmp = tmp_path_factory.mktemp("routes")
    config = _config(tmp)
    db = open_database(config.state_dir)
    make_users(db)
    app = create_app(config, db)
    with serving(app) as base:
        yield base, app
    db.close()


def test_every_route_has_a_rule_and_every_rule_a_route(console: tuple[str, object]) -> None:
    _, app = console
    found = routes(app)
    assert [r for r in found if rule_for(*r) is None] == []
    assert sorted(set(RULES) - set(found)) == []  # no stale rule for a route that went away


def _url(path: str) -> str:
    return path.format(**SAMPLE)


def _ask(client: httpx.Client, method: str, path: str, csrf: str) -> httpx.Response:
    if method == "GET":
        return client.get(_url(path))
    return client.post(_url(path), headers={"X-CSRF-Token": csrf}, data={})


def _to_login(answer: httpx.Response) -> bool:
    return answer.status_code == 303 and answer.headers["location"].startswith("/connexion")


@pytest.mark.parametrize("role", [*ROLES, None])
def test_each_route_answers_each_role_as_its_rule_says(
    console: tuple[str, object], role: str | None
) -> None:
    base, app = console
    wrong = []
    client = log_in(base, role) if role else httpx.Client(base_url=base, timeout=10)
    with closing(client):
        for method, path in routes(app):
            if path == "/deconnexion":
                continue  # below: it ends the session the others use
            rule = rule_for(method, path)
            assert rule is not None
            if role is not None:
                csrf = csrf_of(client)
            else:
                csrf = login_token(client) if rule is PUBLIC else ""
            answer = _ask(client, method, path, csrf)
            if rule is not PUBLIC and role is None:
                ok = _to_login(answer)
            elif allowed(rule, role):
                ok = (
                    answer.status_code != 403
                    and not _to_login(answer)
                    and answer.status_code < 500
                )
            else:
                ok = answer.status_code == 403
            if not ok:
                wrong.append(f"{method} {path} as {role or 'no session'}: {answer.status_code}")
    assert wrong == []


@pytest.mark.parametrize("role", [*ROLES, None])
def test_logging_out(console: tuple[str, object], role: str | None) -> None:
    base, _ = console
    if role is None:
        with httpx.Client(base_url=base, timeout=10) as client:
            assert _to_login(client.post("/deconnexion"))
        return
    with logged_in(base, role) as client:
        answer = client.post("/deconnexion", data={"csrf": csrf_of(client)})
        assert _to_login(answer)
        assert _to_login(client.get("/"))  # the session is over on the server too


def test_a_route_without_a_rule_is_refused_to_everyone(tmp_path: Path) -> None:
    config = _config(tmp_path)
    db = open_database(config.state_dir)
    make_users(db)
    app = create_app(config, db)

    @app.get("/oubliee")
    def forgotten() -> str:
        return "should never be seen"

    with serving(app) as base:
        for role in ROLES:
            with logged_in(base, role) as client:
                answer = client.get("/oubliee")
                assert answer.status_code == 403
                assert "should never be seen" not in answer.text
        with httpx.Client(base_url=base) as client:
            assert client.get("/oubliee").status_code == 403
    db.close()
