"""Each sending SIM's windows (rebuilt from the send log) and measured speed: what an ETA
or a check's time is computed from."""

from __future__ import annotations

import time

from modemd.config import ChannelConfig, Config, ModemConfig
from modemd.operations.live import read_status
from modemd.pipeline.outbox import Outbox
from modemd.pipeline.throttle import HISTORY, Throttle
from modemd.store.db import Database

DEFAULT_PART_SECONDS = 2.5  # a real USB modem, when nothing has been measured yet

SimPlan = tuple[ModemConfig, list[tuple[float, str]], float]


def plans(config: Config, db: Database) -> list[SimPlan]:
    """Each sending SIM, its send history over the longest window and its measured speed."""
    now = time.time()
    snapshot = read_status(config.state_dir) or {}
    speeds = {m["name"]: m["dispatcher"]["part_seconds"] for m in snapshot.get("modems", [])}
    outbox = Outbox(db)
    return [
        (
            m,
            outbox.send_history(m.name, now - HISTORY),
            part_seconds(m, float(speeds.get(m.name) or 0.0)),
        )
        for m in config.pool()
        if m.role != "receive"
    ]


def part_seconds(channel: ModemConfig, measured: float) -> float:
    """One part's time on a channel: a modem's measured send, or 2.5 s; an SMPP link's
    pace, its window's sends side by side but never faster than its throughput."""
    if isinstance(channel, ChannelConfig) and channel.kind == "smpp":
        pace = 1.0 / channel.throughput
        return max(pace, measured / channel.window) if measured else pace
    return measured or DEFAULT_PART_SECONDS


def named_sims(
    config: Config, db: Database, only: set[str] | None = None
) -> list[tuple[str, Throttle, float]]:
    """``only``: just these modems (those that can send now)."""
    return [
        (m.name, Throttle(config.limits_of(m), history), speed)
        for m, history, speed in plans(config, db)
        if only is None or m.name in only
    ]
