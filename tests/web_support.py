"""The console for tests: served by uvicorn on 127.0.0.1 (in a thread of the test, or as a
real ``modemd web`` process), users of each role, and an HTTP client logged in as one."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from modemd.operations.actor import Actor
from modemd.operations.users import add_user
from modemd.store.db import Database

PASSWORD = "un mot de passe solide"
ROLES = ("operateur", "cci", "admin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: object, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def serving(app: FastAPI, ssl: tuple[Path, Path] | None = None) -> Iterator[str]:
    """``app`` on a real socket, in a thread; yields its base URL. ``ssl``: (cert, key)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="error", lifespan="off",
            ssl_certfile=str(ssl[0]) if ssl else None, ssl_keyfile=str(ssl[1]) if ssl else None,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, what="the console to listen")
        yield f"{'https' if ssl else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def web_process(config_path: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``modemd web`` itself, as systemd would run it."""
    tool = Path(sys.executable).with_name("modemd")
    proc = subprocess.Popen(
        [str(tool), "web", "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: _listening(port) or proc.poll() is not None, what="modemd web to listen"
        )
        assert proc.poll() is None, (proc.stdout.read() if proc.stdout else b"").decode()
        yield proc
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout is not None:
            proc.stdout.close()


def make_users(db: Database) -> None:
    for role in ROLES:
        add_user(db, role, role, PASSWORD, Actor("system"))


def login_token(client: httpx.Client) -> str:
    page = client.get("/connexion")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def log_in(base: str, login: str, password: str = PASSWORD, code: str = "") -> httpx.Client:
    """A client with a session (asserts the login worked)."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
    answer = client.post(
        "/connexion",
        data={"csrf": login_token(client), "login": login, "password": password, "code": code},
    )
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@contextmanager
def logged_in(base: str, login: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    client = log_in(base, login, password)
    try:
        yield client
    finally:
        client.close()
