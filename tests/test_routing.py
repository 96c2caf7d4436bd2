"""Which channel takes what: ``use: primary | overflow | backup`` and ``routing.overflow_after``,
with a simulated modem on a real pty and an SMPP link to the test SMSC (smpp34's server)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from modemd.config import ChannelConfig, RoutingConfig
from modemd.sim.pty import PtySimulator
from modemd.testing_smsc import TestSmsc
from tests.smpp_support import (
    add_members,
    alert_done,
    drop_alert,
    make_config,
    smpp_channel,
    start,
    states,
    wait_for,
)


@pytest.fixture
def smsc() -> TestSmsc:
    server = TestSmsc().start()
    yield server  # type: ignore[misc]
    server.stop()


def modem_channel(sim: PtySimulator, use: str) -> ChannelConfig:
    return ChannelConfig(
        name="usb", port=sim.port, command_timeout=2.0, delivery_reports=False, use=use
    )


def modem_messages(sim: PtySimulator) -> list[str]:
    return [
        s.recipient for s in sim.sent() if s.concat is None or s.concat.sequence == s.concat.total
    ]


def test_smpp_down_the_backup_modem_carries_the_urgent_alert(
    tmp_path: Path, smsc: TestSmsc, make_sim: Callable[..., PtySimulator]
) -> None:
    sim = make_sim()
    cfg = make_config(
        tmp_path, [modem_channel(sim, "backup"), smpp_channel(smsc.port, use="primary")]
    )
    phones = add_members(cfg, 5)
    daemon = start(cfg)
    try:
        drop_alert(cfg, "first.yaml")
        assert wait_for(lambda: alert_done(cfg)), states(cfg)
        # The link up, the backup modem sends nothing.
        assert Counter(smsc.messages_to()) == Counter(p.lstrip("+") for p in phones)
        assert modem_messages(sim) == []
        smsc.stop()  # the aggregator unreachable: the link drops and cannot be bound again
        smpp = daemon.pool.members["smpp"].channel
        assert wait_for(lambda: not smpp.ready)
        drop_alert(cfg, "second.yaml")
        assert wait_for(lambda: sorted(modem_messages(sim)) == sorted(phones), timeout=30), states(
            cfg
        )
        assert wait_for(lambda: states(cfg) == {"sent": 10})
    finally:
        daemon.stop()


def test_an_urgent_alert_too_long_for_the_modems_brings_the_overflow_link_in(
    tmp_path: Path, smsc: TestSmsc, make_sim: Callable[..., PtySimulator]
) -> None:
    sim = make_sim(send_latency=0.15)
    cfg = make_config(
        tmp_path,
        [modem_channel(sim, "primary"), smpp_channel(smsc.port, use="overflow", throughput=20.0)],
        routing=RoutingConfig(overflow_after="5s"),
    )
    normal = add_members(cfg, 6)
    daemon = start(cfg)
    try:
        # A normal alert: the modem's work alone, however long it takes.
        drop_alert(cfg, "normal.yaml", priority="normal")
        assert wait_for(lambda: alert_done(cfg), timeout=30), states(cfg)
        assert smsc.messages_to() == [] and sorted(modem_messages(sim)) == sorted(normal)
        # An urgent one to 40: about 80 parts, far more than 5 s on one modem.
        urgent = normal + add_members(cfg, 34, first=100)
        drop_alert(cfg, "urgent.yaml")
        assert wait_for(lambda: states(cfg).get("sent") == 46, timeout=60), states(cfg)
        by_modem = Counter(modem_messages(sim)) - Counter(normal)
        by_smpp = Counter("+" + d for d in smsc.messages_to())
        assert by_smpp and by_modem  # both carried it...
        assert by_smpp + by_modem == Counter(urgent)  # ...each recipient once
    finally:
        daemon.stop()


def test_the_check_counts_the_channels_that_will_carry_the_alert(tmp_path: Path) -> None:
    """--check (and the console's preview) times an alert on the primary channels; for an
    urgent one they would be slow on, with the overflow link too; never on a backup."""
    from modemd.config import LimitsConfig
    from modemd.operations.alerts import alert_from_mapping, check_alert
    from modemd.store.db import open_database

    modem = ChannelConfig(name="usb", port="/dev/null", limits=LimitsConfig(per_minute=10))
    backup = ChannelConfig(name="spare", port="/dev/null", use="backup")
    link = smpp_channel(2775, use="overflow", throughput=50.0)
    config = make_config(tmp_path, [modem, backup, link], routing=RoutingConfig("5m"))
    add_members(config, 100)
    db = open_database(config.state_dir)
    normal = check_alert(
        config, db, alert_from_mapping({"message": "Faux billets", "priority": "normal"}, config)
    )
    assert normal.pace.seconds >= 9 * 60  # 100 at 10 a minute on the modem alone
    assert [p[0].per_minute for p in normal.plans] == [10]
    urgent = check_alert(
        config, db, alert_from_mapping({"message": "Braquage", "priority": "urgent"}, config)
    )
    assert urgent.pace.seconds < 5 * 60 and len(urgent.plans) == 2



def test_status_eta_counts_the_channels_that_take_the_queue(tmp_path: Path) -> None:
    """The ETA of `status` counts the primary channels that are up; the backups only while no
    primary is; an overflow link never (it joins only an urgent alert the others are slow on)."""
    from modemd.operations.status import eta_channels

    config = make_config(tmp_path, [
        ChannelConfig(name="usb", port="/dev/null"),
        ChannelConfig(name="spare", port="/dev/null", use="backup"),
        smpp_channel(2775, name="agg", use="overflow"),
    ])  # fmt: skip

    def live(*up: str) -> dict[str, object]:
        return {"modems": [
            {"name": n, "modem": {"state": "ready" if n in up else "lost", "registered": None}}
            for n in ("usb", "spare", "agg")
        ]}  # fmt: skip

    assert eta_channels(config, live("usb", "spare", "agg")) == {"usb"}
    assert eta_channels(config, live("spare", "agg")) == {"spare"}
    assert eta_channels(config, live("agg")) == set()
    assert eta_channels(config, None) == set()
