"""``modemd users ...``: the web console's accounts. A password is asked twice on the
terminal, or read as one line from stdin with ``--password-stdin`` (for scripts); it is
never an argument, which any user could read in the process list."""

from __future__ import annotations

import getpass
import json
import sys
import time
from typing import Any

from modemd.cli.common import Failure, UsageError, database, usage
from modemd.config import Config
from modemd.operations import users as ops
from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise UsageError("--password-stdin: no line on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask the password on: give it with --password-stdin")
    first = getpass.getpass("Mot de passe : ")
    if getpass.getpass("Mot de passe (encore) : ") != first:
        raise UsageError("the two passwords differ; nothing was changed")
    return first


def users(config: Config, action: str, args: dict[str, Any]) -> int:
    actor = Actor.cli()
    with database(config) as db:
        try:
            if action == "list":
                found = ops.list_users(db)
                if args["json"]:
                    print(json.dumps([u.__dict__ for u in found], indent=2))
                    return 0
                now = time.time()
                for u in found:
                    flags = [
                        f for f, on in (
                            ("disabled", u.disabled), ("totp", u.totp), ("locked", u.locked(now))
                        ) if on
                    ]
                    print(f"{u.login:<20} {u.role:<10} {' '.join(flags)}")
                if not found:
                    print("no users yet: modemd users add LOGIN --role admin", file=sys.stderr)
                return 0
            login = args["login"]
            if action == "add":
                role = ops.role_of(args["role"])  # before asking a password for nothing
                user = ops.add_user(db, login, role, read_password(args["password_stdin"]), actor)
                print(f"{user.login} added ({user.role})")
            elif action == "passwd":
                ops.get_user(db, login)
                ops.set_password(db, login, read_password(args["password_stdin"]), actor)
                print(f"{login}: password changed, its sessions closed")
            elif action == "disable":
                ops.set_disabled(db, login, True, actor)
                print(f"{login} disabled, its sessions closed")
            elif action == "enable":
                ops.set_disabled(db, login, False, actor)
                print(f"{login} enabled")
            elif action == "remove":
                ops.remove_user(db, login, actor)
                print(f"{login} removed")
            elif action == "totp":
                uri = ops.set_totp(db, login, not args["off"], actor)
                if uri is None:
                    print(f"{login}: second factor removed")
                else:
                    print(f"{login}: add this to an authenticator app (shown once):\n{uri}")
        except NotFound as exc:
            raise UsageError(exc.what) from None
        except InvalidInput as exc:
            raise usage(exc) from None
    return 0


def web(config: Config) -> int:
    from modemd.store.db import StoreError
    from modemd.web.server import serve

    try:
        return serve(config)
    except StoreError as exc:
        raise Failure(str(exc)) from None
    except OSError as exc:
        raise Failure(f"cannot serve the console on {config.web.listen}: {exc}") from None
