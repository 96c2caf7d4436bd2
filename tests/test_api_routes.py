"""Every API route, for a token of each scope, for no token and a revoked one, over real
HTTP: the rule table in modemd/web/api/rules.py says which scope opens it (anything but 401
and 403), every other token gets 403, no token 401. A route added without a rule fails
here, and is refused to every token. Also the rate limit, and the OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from modemd.config import Config, ModemConfig, WebConfig
from modemd.operations.actor import Actor
from modemd.operations.tokens import SCOPES, add_token, revoke_token
from modemd.store.audit import entries
from modemd.store.db import open_database
from modemd.web.api.app import PREFIX, create_api
from modemd.web.api.rules import RULES, rule_for
from modemd.web.app import create_app
from tests.web_support import csrf_of, logged_in, make_users, serving

SAMPLE = {"alert_id": "no-such-alert", "phone": "0612345678"}
SYSTEM = Actor("system")


def _config(tmp: Path, rate: int = 100_000) -> Config:
    return Config(
        modem=ModemConfig(port="sim://"), spool_dir=tmp / "spool", state_dir=tmp / "state",
        web=WebConfig(api_rate_per_minute=rate),
    )


def api_routes(api: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every view, walking into included routers."""
    found: list[tuple[str, str]] = []

    def walk(items: list[object]) -> None:
        for route in items:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, APIRoute):
                found.extend((method, route.path) for method in sorted(route.methods))

    walk(api.routes)  # type: ignore[arg-type]
    assert len(found) >= len(RULES), "the walk missed the routes"
    return found


Served = tuple[str, dict[str, str], FastAPI]


def _api_of(app: FastAPI) -> FastAPI:
    mounted: FastAPI = next(r.app for r in app.routes if getattr(r, "path", "") == PREFIX)  # type: ignore[attr-defined]
    return mounted


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("api-routes")
    config = _config(tmp)
    db = open_database(config.state_dir)
    tokens = {scope: add_token(db, scope.replace(":", "-"), (scope,), SYSTEM).secret
              for scope in SCOPES}
    tokens["revoked"] = add_token(db, "old", SCOPES, SYSTEM).secret
    revoke_token(db, "old", SYSTEM)
    app = create_app(config, db)
    with serving(app) as base:
        yield base + PREFIX, tokens, _api_of(app)
    db.close()


def test_every_api_route_has_a_rule_and_every_rule_a_route(tmp_path: Path) -> None:
    config = _config(tmp_path)
    db = open_database(config.state_dir)
    found = api_routes(create_api(config, db))
    assert [r for r in found if rule_for(*r) is None] == []
    assert sorted(set(RULES) - set(found)) == []
    db.close()


def _ask(client: httpx.Client, method: str, path: str) -> httpx.Response:
    return client.request(method, path.format(**SAMPLE), json={} if method != "GET" else None)


@pytest.mark.parametrize("who", [*SCOPES, None, "revoked"])
def test_each_route_answers_each_token_as_its_rule_says(
    served: Served, who: str | None
) -> None:
    base, tokens, api = served
    headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
    wrong = []
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        for method, path in api_routes(api):
            answer = _ask(client, method, path)
            if who is None or who == "revoked":
                ok = answer.status_code == 401
            elif rule_for(method, path) == who:
                ok = answer.status_code not in (401, 403) and answer.status_code < 500
            else:
                ok = answer.status_code == 403
            if not ok:
                wrong.append(f"{method} {path} with {who or 'no token'}: {answer.status_code}")
    assert wrong == []


def test_a_route_without_a_rule_is_refused_to_every_token(tmp_path: Path) -> None:
    config = _config(tmp_path)
    db = open_database(config.state_dir)
    secret = add_token(db, "all", SCOPES, SYSTEM).secret
    app = create_app(config, db)
    api = _api_of(app)

    @api.get("/forgotten")
    def forgotten() -> str:
        return "should never be seen"

    with serving(app) as base, httpx.Client(
        base_url=base + PREFIX, headers={"Authorization": f"Bearer {secret}"}
    ) as client:
        answer = client.get("/forgotten")
        assert answer.status_code == 403 and "should never be seen" not in answer.text
    db.close()


def test_a_token_over_its_rate_is_told_when_to_come_back(tmp_path: Path) -> None:
    config = _config(tmp_path, rate=3)
    db = open_database(config.state_dir)
    secret = add_token(db, "busy", ("status:read",), SYSTEM).secret
    other = add_token(db, "calm", ("status:read",), SYSTEM).secret
    with serving(create_app(config, db)) as base:
        with httpx.Client(base_url=base + PREFIX,
                          headers={"Authorization": f"Bearer {secret}"}) as client:
            codes = [client.get("/status").status_code for _ in range(3)]
            assert codes == [200, 200, 200]
            over = client.get("/status")
            assert over.status_code == 429
            assert over.headers["content-type"].startswith("application/problem+json")
            assert 1 <= int(over.headers["retry-after"]) <= 20
        with httpx.Client(base_url=base + PREFIX,
                          headers={"Authorization": f"Bearer {other}"}) as client:
            assert client.get("/status").status_code == 200  # per token, not for all
    db.close()


def test_the_openapi_document_describes_the_api_alone(served: Served) -> None:
    base, _, _ = served
    doc = httpx.get(base + "/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.1")
    paths = set(doc["paths"])
    assert "/alerts" in paths and "/members/{phone}" in paths and "/status" in paths
    assert not [p for p in paths if "alertes" in p or "membres" in p or "connexion" in p]
    assert "text/csv" in doc["paths"]["/members/import"]["post"]["requestBody"]["content"]


def test_an_admin_makes_and_revokes_a_token_in_the_console(tmp_path: Path) -> None:
    config = _config(tmp_path)
    db = open_database(config.state_dir)
    make_users(db)
    with serving(create_app(config, db)) as base, logged_in(base, "admin") as console:
        made = console.post("/jetons/ajouter", data={
            "csrf": csrf_of(console), "name": "crm-cci", "scope": ["members:read", "status:read"],
        })
        assert made.status_code == 200, made.text
        found = re.search(r"<code>(mdm_[\w-]+)</code>", made.text)
        assert found, made.text
        secret = found.group(1)
        assert secret not in console.get("/jetons").text  # shown once
        with httpx.Client(base_url=base + PREFIX,
                          headers={"Authorization": f"Bearer {secret}"}) as client:
            assert client.get("/members").status_code == 200
            assert client.get("/alerts").status_code == 403
            revoked = console.post("/jetons/revoquer",
                                   data={"csrf": csrf_of(console), "name": "crm-cci"})
            assert revoked.status_code == 303
            assert client.get("/members").status_code == 401
        listing = console.get("/jetons").text
        assert "crm-cci" in listing and "révoqué" in listing
        trail = [e.event for e in entries(db) if e.actor == "web:admin"]
        assert "token_added" in trail and "token_revoked" in trail
    db.close()
