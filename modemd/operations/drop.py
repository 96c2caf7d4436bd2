"""An alert file dropped into the spool, as ``alert send FILE`` does: the file goes through
the daemon's intake like any other (done/ or failed/ beside its .error), and the verdict is
read back from the spool and the audit trail."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modemd.config import Config
from modemd.pipeline.spool import Spool
from modemd.store.db import open_database
from modemd.store.lock import running_pid


@dataclass(frozen=True)
class Dropped:
    file: str  # its name in outgoing/ (made unique if one of that name waits there)
    outcome: dict[str, Any]  # state: accepted | duplicate | rejected | queued; daemon: PID


def drop_alert_file(config: Config, name: str, data: bytes, timeout: float = 10.0) -> Dropped:
    """Write the file into ``outgoing/`` (aside, then renamed in) and, with a daemon
    running, wait for its intake's verdict: accepted, duplicate, rejected, or still queued."""
    spool = Spool(config.spool_dir)
    spool.ensure()
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while (spool.outgoing / name).exists():
        name = f"{stem}-{n}{suffix}"
        n += 1
    # What is already there under this name belongs to earlier drops, not to this one.
    earlier = _outcome_files(spool, name)
    mark = _audit_mark(config)
    tmp = spool.outgoing / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, spool.outgoing / name)  # the documented way: write aside, rename in
    pid = running_pid(config.state_dir)
    if pid is None:
        outcome: dict[str, Any] = {"state": "queued", "daemon": None}
    else:
        outcome = _wait_outcome(config, spool, name, (earlier, mark), timeout=timeout)
        outcome["daemon"] = pid
    return Dropped(name, outcome)


def _outcome_files(spool: Spool, name: str) -> dict[str, int]:
    """The files in done/ and failed/ that an intake of ``name`` may produce (done/
    ``<time>_<alert id>_<name>``, failed/ ``<name>[.N].error``), with their inode: a repeat
    within the same second replaces a done/ file of the same name."""
    rejected = re.compile(re.escape(name) + r"(\.\d+)?\.error")
    found: dict[str, int] = {}
    for folder, match in (
        (spool.done, lambda n: n.endswith(f"_{name}")),
        (spool.failed, rejected.fullmatch),
    ):
        for entry in os.scandir(folder):
            if match(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    found[f"{folder.name}/{entry.name}"] = entry.inode()
    return found


def _wait_outcome(
    config: Config, spool: Spool, name: str, before: tuple[dict[str, int], int], timeout: float
) -> dict[str, Any]:
    earlier, mark = before
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (spool.outgoing / name).exists():
            now = _outcome_files(spool, name)
            for new in sorted(k for k, inode in now.items() if earlier.get(k) != inode):
                folder, file = new.split("/", 1)
                if folder == "failed":
                    reason = (spool.failed / file).read_text(encoding="utf-8").strip()
                    return {"state": "rejected", "reason": reason}
                return _accepted(config, file, name, mark)
        time.sleep(0.05)
    return {"state": "queued"}


def _audit_mark(config: Config) -> int:
    """The last audit entry before a drop: what the intake records after it is this drop's."""
    db = open_database(config.state_dir)
    try:
        row = db.one("SELECT MAX(id) AS id FROM audit")
    finally:
        db.close()
    return int(row["id"] or 0) if row else 0


def _accepted(config: Config, done_name: str, name: str, mark: int) -> dict[str, Any]:
    """This drop's alert, or the earlier alert of the same `id` it repeats (the intake's
    audit entry for this file says which)."""
    alert_id = done_name.split("_", 2)[1]
    db = open_database(config.state_dir)
    try:
        events = db.query(
            "SELECT event, detail FROM audit WHERE id > ? AND alert_id = ? "
            "AND event IN ('accepted', 'duplicate') ORDER BY id DESC",
            (mark, alert_id),
        )
        recipients = db.one("SELECT COUNT(*) AS n FROM deliveries WHERE alert_id = ?", (alert_id,))
    finally:
        db.close()
    outcome: dict[str, Any] = {"alert_id": alert_id, "done": done_name}
    for event in events:
        detail = json.loads(event["detail"])
        if detail.get("source") != name:
            continue
        if event["event"] == "duplicate":
            return {"state": "duplicate", "key": detail.get("key"), **outcome}
        break
    return {"state": "accepted", "recipients": int(recipients["n"]) if recipients else 0, **outcome}
