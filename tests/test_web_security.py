"""The console's security, over real HTTP: outside text escaped everywhere it is shown, no
POST without its CSRF token, the lock after five wrong passwords, a disabled user's session
ended, the session cookie's flags (Secure over HTTPS), the second factor, a strict CSP and
templates with no inline script or style for it to forbid."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import httpx
import pyotp
import pytest

from modemd.channels.base import InboundSms
from modemd.config import Config, InboundConfig, ModemConfig, WebConfig
from modemd.inbound.handler import Inbound
from modemd.members.registry import Registry
from modemd.operations.actor import Actor
from modemd.operations.users import set_disabled, set_totp
from modemd.pipeline.outbox import Outbox
from modemd.store.audit import entries
from modemd.store.db import Database, open_database
from modemd.web.app import create_app
from modemd.web.guard import CSP
from tests.web_support import (
    PASSWORD,
    csrf_of,
    log_in,
    logged_in,
    login_token,
    make_users,
    serving,
)

HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "javascript:alert(3)"]


def _config(tmp: Path, **web: object) -> Config:
    return Config(
        modem=ModemConfig(port="sim://"),
        spool_dir=tmp / "spool",
        state_dir=tmp / "state",
        web=WebConfig(**web),  # type: ignore[arg-type]
    )


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, Database, Config]]:
    config = _config(tmp_path)
    db = open_database(config.state_dir)
    make_users(db)
    with serving(create_app(config, db)) as base:
        yield base, db, config
    db.close()


def _receive(db: Database, config: Config, sender: str, text: str) -> None:
    """An SMS through the daemon's own inbound handler, as the modem hands it over."""
    inbound = Inbound(
        db, Outbox(db), Registry(db), InboundConfig(), config.spool_dir / "incoming"
    )
    inbound.handle(InboundSms("modem", sender, text, time.time()))


def _unescaped(html: str) -> list[str]:
    found = [h for h in HOSTILE[:2] if h in html]
    # A javascript: URL is harmless as text; it must never be an attribute's value.
    found += re.findall(r'(?:href|src|action)="\s*javascript:', html, flags=re.I)
    return found


def test_outside_text_is_escaped_on_every_page(console: tuple[str, Database, Config]) -> None:
    base, db, config = console
    registry = Registry(db)
    for i, text in enumerate(HOSTILE):
        registry.add(f"+3361234567{i}", name=text, commune=f"Aurillac{text}", sector=text)
        _receive(db, config, f"+3369876543{i}", f"Vu un suspect {text}")
    _receive(db, config, "+33698765439", f"ADHESION {HOSTILE[0]} {HOSTILE[1]}")
    pages = [
        "/", "/membres", "/membres?q=%3Cscript%3E", "/membres/demandes", "/membres/desinscriptions",
        "/reponses", "/journal", "/alertes/nouvelle",
    ]
    with logged_in(base, "admin") as client:
        csrf = csrf_of(client)
        client.post("/membres/desinscrire", data={"csrf": csrf, "phone": "+33612345670"})
        for path in pages:
            page = client.get(path)
            assert page.status_code == 200, path
            assert _unescaped(page.text) == [], path
            assert "&lt;" in page.text or path in ("/", "/journal"), path
        shown = client.get("/reponses").text
        assert "Vu un suspect &lt;script&gt;alert(1)&lt;/script&gt;" in shown
        preview = client.post(
            "/alertes/apercu",
            headers={"X-CSRF-Token": csrf},
            data={"message": HOSTILE[0], "communes": HOSTILE[1]},
        )
        assert preview.headers["content-type"].startswith("application/json")
        confirm = client.post(
            "/alertes/confirmer",
            data={"csrf": csrf, "message": HOSTILE[0], "communes": "Aurillac" + HOSTILE[1]},
        )
        assert confirm.status_code == 200, confirm.text
        assert _unescaped(confirm.text) == []


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    console: tuple[str, Database, Config],
) -> None:
    base, db, _ = console
    with logged_in(base, "cci") as client:
        for data in ({}, {"csrf": "not-the-token"}):
            answer = client.post("/membres/ajouter", data={**data, "phone": "0611223344"})
            assert answer.status_code == 403
        with httpx.Client(base_url=base) as other:
            stranger = login_token(other)  # another visitor's token
        answer = client.post("/membres/ajouter", data={"csrf": stranger, "phone": "0611223344"})
        assert answer.status_code == 403
        assert Registry(db).get("+33611223344") is None
        token = csrf_of(client)
        answer = client.post("/membres/ajouter", data={"csrf": token, "phone": "0611223344"})
        assert answer.status_code == 303
    assert Registry(db).get("+33611223344") is not None
    with httpx.Client(base_url=base) as client:  # the login form has its own token
        answer = client.post("/connexion", data={"login": "admin", "password": PASSWORD})
        assert answer.status_code == 403
        assert "modemd_session" not in str(answer.headers.get_list("set-cookie"))


def _try(base: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base) as client:
        return client.post(
            "/connexion",
            data={"csrf": login_token(client), "login": "operateur", "password": password},
        )


def test_five_wrong_passwords_lock_the_account(console: tuple[str, Database, Config]) -> None:
    base, db, _ = console
    for _ in range(5):
        answer = _try(base, "pas le bon")
        assert answer.status_code == 401
        assert "incorrect" in answer.text
    locked = _try(base, PASSWORD)  # the sixth attempt, right password and all
    assert locked.status_code == 401
    assert "verrouillé" in locked.text
    assert "modemd_session" not in str(locked.headers.get_list("set-cookie"))
    events = [e.event for e in entries(db) if e.actor == "web:operateur"]
    assert events.count("login_refused") == 5  # four wrong, one while locked
    assert "user_locked" in events
    with logged_in(base, "admin"):  # other accounts are not affected
        pass


def test_a_disabled_users_session_stops_at_once(console: tuple[str, Database, Config]) -> None:
    base, db, _ = console
    with logged_in(base, "cci") as client:
        assert client.get("/membres").status_code == 200
        set_disabled(db, "cci", True, Actor.cli())
        answer = client.get("/membres")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/connexion")
    refused = _try_login(base, "cci")
    assert "désactivé" in refused.text


def _try_login(base: str, login: str, code: str = "") -> httpx.Response:
    with httpx.Client(base_url=base) as client:
        return client.post(
            "/connexion",
            data={"csrf": login_token(client), "login": login, "password": PASSWORD,
                  "code": code},
        )


def _session_cookie(answer: httpx.Response) -> set[str]:
    """The flags of the session cookie the answer sets (it also clears the login form's)."""
    cookies = [c for c in answer.headers.get_list("set-cookie") if c.startswith("modemd_session=")]
    assert len(cookies) == 1, answer.headers
    return {part.strip().lower() for part in cookies[0].split(";")}


def test_the_session_cookie_flags(console: tuple[str, Database, Config]) -> None:
    base, _, _ = console
    answer = _try_login(base, "admin")
    flags = _session_cookie(answer)
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert "secure" not in flags  # plain HTTP on 127.0.0.1: a Secure cookie would never return
    assert any(f.startswith("max-age=43200") for f in flags)  # web.session_hours: 12


def test_behind_a_local_https_proxy_the_cookie_is_secure(tmp_path: Path) -> None:
    config = _config(tmp_path)
    db = open_database(config.state_dir)
    make_users(db)
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as `modemd web` configures it.
    with serving(create_app(config, db)) as base, httpx.Client(base_url=base) as client:
        token = login_token(client)
        answer = client.post(
            "/connexion",
            headers={"X-Forwarded-Proto": "https"},
            data={"csrf": token, "login": "admin", "password": PASSWORD},
        )
        assert "secure" in _session_cookie(answer)
    db.close()


def test_pages_carry_a_strict_csp_and_templates_have_nothing_inline(
    console: tuple[str, Database, Config],
) -> None:
    base, _, _ = console
    with httpx.Client(base_url=base) as client:
        headers = client.get("/connexion").headers
    assert headers["content-security-policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "default-src 'none'" in CSP
    assert headers["x-frame-options"] == "DENY"
    for template in (resources.files("modemd.web") / "templates").iterdir():
        html = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), template.name
        assert not re.search(r"\s(style|on[a-z]+)=", html), template.name
        assert "http://" not in html and "https://" not in html, template.name  # no CDN


@pytest.mark.parametrize(
    "elsewhere", ["//evil.example/", "/\\evil.example/", "/\t/evil.example/", "https://evil.example/"]
)
def test_a_login_never_sends_anyone_to_another_site(
    console: tuple[str, Database, Config], elsewhere: str
) -> None:
    base, _, _ = console
    with httpx.Client(base_url=base) as client:
        answer = client.post(
            "/connexion",
            data={"csrf": login_token(client), "login": "admin", "password": PASSWORD,
                  "suite": elsewhere},
        )
    assert answer.headers["location"] == "/"
    with httpx.Client(base_url=base) as client:  # while a path of the site is kept
        answer = client.post(
            "/connexion",
            data={"csrf": login_token(client), "login": "admin", "password": PASSWORD,
                  "suite": "/membres?statut=pending"},
        )
    assert answer.headers["location"] == "/membres?statut=pending"


def test_a_second_factor_and_roles_that_require_one(tmp_path: Path) -> None:
    config = _config(tmp_path, require_totp_for=["admin"])
    db = open_database(config.state_dir)
    make_users(db)
    uri = set_totp(db, "operateur", True, Actor.cli())
    assert uri is not None
    secret = re.search(r"secret=([A-Z2-7]+)", uri)
    assert secret
    with serving(create_app(config, db)) as base:
        asked = _try_login(base, "operateur")
        assert asked.status_code == 401 and 'name="code"' in asked.text
        assert _try_login(base, "operateur", "000000").status_code == 401
        good = _try_login(base, "operateur", pyotp.TOTP(secret.group(1)).now())
        assert good.status_code == 303
        refused = _try_login(base, "admin")  # its role requires a second factor it lacks
        assert refused.status_code == 401 and "second facteur" in refused.text
        assert _try_login(base, "cci").status_code == 303
    db.close()


def test_over_https_the_cookie_is_secure(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    config = _config(tmp_path, tls_cert=cert, tls_key=key)
    db = open_database(config.state_dir)
    make_users(db)
    app = create_app(config, db)
    with serving(app, ssl=(cert, key)) as base:
        with httpx.Client(base_url=base, verify=False) as client:
            answer = client.post(
                "/connexion",
                data={"csrf": login_token(client), "login": "admin", "password": PASSWORD},
            )
        flags = _session_cookie(answer)
        assert {"secure", "httponly", "samesite=strict"} <= flags
    db.close()
    assert log_in  # the plain-HTTP helper is for the other tests
