"""``modemd demo --web``: the demo's daemon keeps running on the simulator, with the web
console beside it and a demo account made for the occasion (its password printed once, new
each time), so a newcomer can send an alert from the browser and watch it go out."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable

from modemd.config import WebConfig
from modemd.operations.actor import SYSTEM
from modemd.operations.users import add_user
from modemd.testing import Harness
from modemd.web.server import serve, split_listen

DEMO_LOGIN = "demo"


def serve_console(h: Harness, listen: str, say: Callable[[str], None]) -> int:
    config = dataclasses.replace(h.config, web=WebConfig(listen=listen))
    password = secrets.token_urlsafe(9)
    add_user(h.registry.db, DEMO_LOGIN, "admin", password, SYSTEM)
    host, port = split_listen(listen)
    # Said once the console listens, so the link works the moment it is shown.
    return serve(
        config,
        on_ready=lambda: say(
            f"\n6. The web console, with the daemon still running on the simulator:\n"
            f"   http://{host}:{port}/  login {DEMO_LOGIN}, password {password}\n"
            "   (Ctrl-C ends the demo; everything was in a temporary folder)"
        ),
    )
