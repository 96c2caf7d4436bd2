"""The running daemon's live state, read from outside it: ``status.json`` in the state
folder, written by the daemon at each tick and at once on a change that matters (a wake-up,
a modem's state). Importing this does not import the daemon."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from modemd.store.lock import STATUS_FILE, pid_alive

STALE_AFTER = 15.0  # seconds: three idle ticks missed


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The running daemon's last snapshot, or None if there is none; ``stale`` set when
    its daemon is gone or has not written it for a while."""
    try:
        data: dict[str, Any] = json.loads((state_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    pid = int(data.get("pid", 0))
    alive = pid > 0 and pid_alive(pid)
    if not alive or time.time() - float(data.get("updated_at", 0)) > STALE_AFTER:
        data["stale"] = True
    return data

