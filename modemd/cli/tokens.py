"""``modemd tokens ...``: the HTTP API's tokens. A new token's secret is printed once, on
standard output alone (so ``TOKEN=$(modemd tokens add ...)`` keeps it); it is never kept."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from modemd.cli.common import UsageError, database, usage
from modemd.config import Config
from modemd.operations import tokens as ops
from modemd.operations.actor import Actor
from modemd.operations.errors import InvalidInput, NotFound


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "never"


def tokens(config: Config, action: str, args: dict[str, Any]) -> int:
    actor = Actor.cli()
    with database(config) as db:
        try:
            if action == "add":
                made = ops.add_token(db, args["name"], ops.scopes_of(args["scope"] or []), actor)
                print(
                    f"token {made.token.name} ({', '.join(made.token.scopes)}), shown this once:",
                    file=sys.stderr,
                )
                print(made.secret)
            elif action == "list":
                found = ops.list_tokens(db)
                if args["json"]:
                    print(json.dumps([t.as_dict() for t in found], indent=2))
                    return 0
                for t in found:
                    state = "active" if t.active else f"revoked {_when(t.revoked_at)}"
                    used = _when(t.last_used_at) + (
                        f" from {t.last_used_from}" if t.last_used_from else ""
                    )
                    print(f"{t.name:<20} {state:<22} last used {used:<30} {' '.join(t.scopes)}")
                if not found:
                    print("no tokens yet: modemd tokens add NAME --scope ...", file=sys.stderr)
            elif action == "revoke":
                done = ops.revoke_token(db, args["name"], actor)
                print(f"{done.name} revoked: it opens nothing any more")
        except NotFound as exc:
            raise UsageError(exc.what) from None
        except InvalidInput as exc:
            raise usage(exc) from None
    return 0
