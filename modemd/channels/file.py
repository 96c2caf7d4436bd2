"""A channel that writes each SMS to a file instead of the network: ``file:///path/out.jsonl``.

``?send_time=2.5`` makes each part take that long, as a modem's does, to rehearse how long a
fan-out would last under the SIM limits.

For dry runs ("send to a file instead of the network") and as the proof that a channel is only
the interface: it goes through the same dispatcher, pool, throttle and crash-safety path as the
modem. Each part is one JSON line, flushed and fsynced before it counts as sent, so after a
crash the file holds at most the part that was in flight twice, as a modem may.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from modemd.channels.base import (
    Channel,
    ChannelStatus,
    MessageHandler,
    NotSent,
    OutgoingSms,
    ReceiptHandler,
    StateHandler,
    _ignore,
)
from modemd.sms.parts import split

SCHEME = "file"


def file_path(url: str) -> Path:
    """``file:///var/lib/modemd/dry-run.jsonl`` -> that path."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME or not parts.path or parts.netloc not in ("", "localhost"):
        raise ValueError(f"{url!r} is not a file:// address (file:///path/to/file.jsonl)")
    return Path(unquote(parts.path))


def send_time(url: str) -> float:
    """The ``send_time`` of the address, in seconds a part (0 when not given)."""
    query = parse_qs(urlsplit(url).query)
    unknown = set(query) - {"send_time"}
    if unknown:
        raise ValueError(f"{url!r}: unknown option {sorted(unknown)[0]!r} (only send_time)")
    try:
        seconds = float(query.get("send_time", ["0"])[-1])
    except ValueError:
        raise ValueError(f"{url!r}: send_time must be a number of seconds") from None
    if not 0 <= seconds <= 60:
        raise ValueError(f"{url!r}: send_time must be between 0 and 60 seconds")
    return seconds


class FileChannel(Channel):
    kind = "file"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        on_message: MessageHandler = _ignore,
        on_receipt: ReceiptHandler = _ignore,
        on_state: StateHandler = _ignore,
    ) -> None:
        super().__init__(name, on_message=on_message, on_receipt=on_receipt, on_state=on_state)
        self.path = file_path(url)
        self.send_time = send_time(url)
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._state, self._detail, self._since = "starting", "", time.time()

    def start(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            self._set("failed", f"cannot open {self.path}: {exc.strerror or exc}")
            return
        self._set("ready", "")
        self._ready.set()

    def stop(self) -> None:
        self._ready.clear()
        self._set("stopped", "")

    def _set(self, state: str, detail: str) -> None:
        self._state, self._detail, self._since = state, detail, time.time()
        self.on_state(state, detail)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    @property
    def send_deadline(self) -> float:
        return 1.0 + self.send_time

    def status(self) -> ChannelStatus:
        return ChannelStatus(
            self.name, self.kind, str(self.path), self._state, self._detail, self._since
        )

    def _prepare(self, sms: OutgoingSms) -> tuple[Sequence[Any], str | None]:
        try:
            texts = split(sms.text, sms.encoding)
        except ValueError as exc:
            raise NotSent(f"cannot compose: {exc}", permanent=True) from exc
        # One id for the whole message, so a reader can put its parts back together.
        message = f"{os.getpid()}-{time.time_ns()}"
        return [
            {
                "recipient": sms.recipient,
                "message": message,
                "seq": i + 1,
                "total": len(texts),
                "text": text,
            }
            for i, text in enumerate(texts)
        ], None

    def _transmit(self, piece: Any) -> str | None:
        assert isinstance(piece, dict)
        if self.send_time:
            time.sleep(self.send_time)  # not a wait: the pace being rehearsed
        with self._lock:
            message_id = f"{os.getpid()}-{time.time_ns()}"
            line = {"at": time.time(), "id": message_id, **piece}
            try:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as exc:
                raise NotSent(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return message_id


def read_sent(path: Path) -> list[dict[str, Any]]:
    """The parts a file channel wrote, in order (a torn last line, from a crash, skipped)."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
