"""Inbound SMS that are for people to read: one file each in the spool's ``incoming/``."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from modemd.channels.base import InboundSms


def write_incoming(
    folder: Path,
    message: InboundSms,
    received: datetime | None = None,
    sender: str | None = None,
    note: str | None = None,
) -> Path:
    """``From:``, ``Received:``, a ``Note:`` for the operators if any, a blank line, the
    text; written whole or not at all. ``sender`` is the number in E.164 when it could be
    normalised. A message whose PDU was damaged also gets ``Damaged:`` (what was wrong) and
    ``PDU:`` (the PDU as received), so operators can tell a sender's text from what the
    decoder made of it."""
    received = received or datetime.now(UTC)
    sender = sender or message.sender or "unknown"
    stamp = received.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = re.sub(r"[^0-9A-Za-z+]", "_", sender)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    while True:
        path = folder / f"{stamp}_{name}{f'_{n}' if n else ''}.txt"
        if not path.exists():
            break
        n += 1
    when = received.astimezone().isoformat(timespec="seconds")  # local, as the CLI shows
    head = [f"From: {sender}", f"Received: {when}"]
    if message.damaged:
        head.append(f"Damaged: {message.damaged}")
    if message.raw:
        head.append(f"PDU: {message.raw}")
    if note:
        head.append(f"Note: {note}")  # for the operators, such as a possible opt-out
    body = "\n".join(head) + f"\n\n{message.text}\n"
    tmp = folder / f".{path.name}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path
