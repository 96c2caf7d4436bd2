"""An alert file left in the spool for a daemon that is not running: written aside and
renamed into ``outgoing/``, where an operator can still see and withdraw it, and where the
daemon's intake takes it when it starts (done/ or failed/ beside its .error)."""

from __future__ import annotations

import os
from pathlib import Path

from modemd.config import Config
from modemd.pipeline.spool import Spool


def drop_alert_file(config: Config, name: str, data: bytes) -> str:
    """Write the file into ``outgoing/``; returns its name there (made unique if a file of
    that name already waits)."""
    spool = Spool(config.spool_dir)
    spool.ensure()
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while (spool.outgoing / name).exists():
        name = f"{stem}-{n}{suffix}"
        n += 1
    tmp = spool.outgoing / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, spool.outgoing / name)  # the documented way: write aside, rename in
    return name
