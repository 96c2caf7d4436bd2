"""Helpers for the SMPP tests: a daemon whose channels include an SMPP link to the test SMSC
(``modemd.testing_smsc``: smpp34's server), members in the registry, an alert dropped."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modemd.config import AlertsConfig, ChannelConfig, Config, LimitsConfig
from modemd.members.registry import Registry
from modemd.service.daemon import Daemon
from modemd.store.db import open_database

if os.environ.get("CI") == "true":
    import smpp34  # in CI the SMSC must be there: a missing one fails, it does not skip
else:
    smpp34 = pytest.importorskip("smpp34", reason="the test SMSC needs the smpp34 package")

MESSAGE = "Vol par ruse à la boulangerie de Montech : 600 € pris dans la caisse."
REPLY_NUMBER = "38100"


def smpp_channel(port: int, **changes: Any) -> ChannelConfig:
    base = ChannelConfig(
        name="smpp",
        kind="smpp",
        host="127.0.0.1",
        port=str(port),
        system_id="modemd",
        password="s3cret-pass",
        source_addr="ALERTECOM",
        throughput=200.0,
        window=4,
        enquire_link="2s",
        delivery_reports=True,
    )
    return dataclasses.replace(base, **changes)


def make_config(root: Path, channels: list[ChannelConfig], **config: Any) -> Config:
    alerts = config.pop("alerts", AlertsConfig(reply_number=REPLY_NUMBER))
    return Config(
        channels=channels,
        spool_dir=root / "spool",
        state_dir=root / "state",
        limits=config.pop("limits", LimitsConfig()),
        alerts=alerts,
        **config,
    )


def add_members(config: Config, count: int, first: int = 0) -> list[str]:
    db = open_database(config.state_dir)
    registry = Registry(db)
    phones = [f"+336{40_000_000 + first + i:08d}" for i in range(count)]
    for phone in phones:
        registry.add(phone, commune="Montech")
    db.close()
    return phones


def drop_alert(config: Config, name: str = "ruse.yaml", priority: str = "urgent") -> None:
    outgoing = config.spool_dir / "outgoing"
    outgoing.mkdir(parents=True, exist_ok=True)
    tmp = outgoing / f".{name}.tmp"
    tmp.write_text(
        f'message: "{MESSAGE}"\ncategory: vol_ruse\npriority: {priority}\n', encoding="utf-8"
    )
    os.replace(tmp, outgoing / name)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def start(config: Config, timeout: float = 10.0) -> Daemon:
    daemon = Daemon(config)
    daemon.start()
    for member in daemon.pool.members.values():
        assert member.channel.wait_ready(timeout), member.name
    return daemon


def states(config: Config) -> dict[str, int]:
    conn = sqlite3.connect(config.state_dir / "modemd.db", timeout=10)
    try:
        rows = conn.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
    finally:
        conn.close()
    return {str(state): int(n) for state, n in rows}


def alert_done(config: Config) -> bool:
    conn = sqlite3.connect(config.state_dir / "modemd.db", timeout=10)
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM alerts WHERE state = 'active' AND priority >= 0"
        ).fetchone()
        total = conn.execute("SELECT COUNT(*) FROM alerts WHERE priority >= 0").fetchone()
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return bool(total[0]) and row[0] == 0
