"""``modemd senders ...``: the numbers allowed to raise an alert by SMS, printed."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime
from typing import Any

from modemd.cli.common import UsageError, database, usage
from modemd.config import Config
from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound
from modemd.operations.senders import (
    Scope,
    Sender,
    add_sender,
    list_senders,
    lock_sender,
    remove_sender,
)


def senders(config: Config, action: str, options: dict[str, Any]) -> int:
    actor = Actor.cli()
    try:
        with database(config) as db:
            if action == "add":
                scope = Scope(
                    _items(options["communes"]),
                    _items(options["sectors"]),
                    _items(options["categories"]),
                )
                pin = _read_pin(bool(options["pin_stdin"]))
                sender = add_sender(db, options["phone"], options["name"], pin, scope, actor)
                print(f"{sender.phone} registered as {sender.name} ({sender.scope.describe()})")
            elif action == "list":
                _print(list_senders(db), bool(options["json"]))
            elif action == "remove":
                sender = remove_sender(db, options["phone"], actor)
                print(f"{sender.phone} ({sender.name}) removed")
            else:
                sender = lock_sender(db, options["phone"], actor, locked=action == "lock")
                state = "locked until unlocked" if action == "lock" else "unlocked"
                print(f"{sender.phone} ({sender.name}) {state}")
    except InvalidInput as exc:
        raise usage(exc) from None
    except NotFound as exc:
        raise UsageError(exc.what) from None
    return 0


def _read_pin(from_stdin: bool) -> str:
    """On the terminal, asked twice and never echoed; else one line of standard input."""
    if from_stdin:
        return sys.stdin.readline().strip()
    if not sys.stdin.isatty():
        raise UsageError("the PIN is asked on a terminal; give --pin-stdin to read it as one line")
    pin = getpass.getpass("PIN (4 to 12 digits): ")
    if getpass.getpass("PIN again: ") != pin:
        raise UsageError("the two PINs differ; nothing was changed")
    return pin


def _items(text: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def _print(rows: list[Sender], as_json: bool) -> None:
    now = datetime.now().timestamp()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "phone": s.phone,
                        "name": s.name,
                        "communes": list(s.scope.communes),
                        "sectors": list(s.scope.sectors),
                        "categories": list(s.scope.categories),
                        "locked": s.locked_at(now),
                        "locked_until": None if s.locked else s.locked_until,
                    }
                    for s in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if not rows:
        print("no registered senders (modemd senders add PHONE --name NAME)")
    for s in rows:
        lock = ""
        if s.locked:
            lock = "  LOCKED"
        elif s.locked_at(now) and s.locked_until is not None:
            lock = f"  locked until {datetime.fromtimestamp(s.locked_until):%H:%M}"
        print(f"{s.phone:<14} {s.name:<24} {s.scope.describe()}{lock}")
