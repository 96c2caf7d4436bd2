"""Unattended operation: unplug, hang, lost network, notices, metrics (daemon in-process)."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modemd.config import HealthConfig, InboundConfig, LimitsConfig, MetricsConfig, ModemConfig
from modemd.sim.modem import Faults
from modemd.sim.pty import PtySimulator
from modemd.testing import Harness

MakeSim = Callable[..., PtySimulator]
OPERATOR = "+33699887766"


@pytest.fixture
def harness(tmp_path: Path, make_sim: MakeSim) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(
        latency: float = 0.02,
        faults: Faults | None = None,
        profile: str = "simcom-sim7600",
        modem: dict[str, object] | None = None,
        **config: object,
    ) -> Harness:
        sim = make_sim(profile, faults, send_latency=latency)
        h = Harness(tmp_path / f"h{len(made)}", sim, **config)
        if modem:
            h.config = h.config.__class__(
                **{
                    **h.config.__dict__,
                    "modem": ModemConfig(
                        port=sim.port, command_timeout=2.0, delivery_reports=False, **modem
                    ),
                }
            )
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


def cmgs_after(h: Harness, moment: float) -> list[float]:
    log = h.sim.call(lambda: list(h.sim.modem.command_times))
    return [t for t, line in log if line.startswith("AT+CMGS") and t >= moment]


def notices_to(h: Harness, number: str) -> list[str]:
    return [s.text for s in h.sim.sent() if s.recipient == number]


def checks(h: Harness, count: int = 2) -> None:
    """Wait until the daemon has looked at its conditions ``count`` more times: the proof that
    it had its chance to act, where a test asserts that it did not."""
    assert h.daemon is not None
    supervisor = h.daemon.supervisor
    for _ in range(count):
        seen = supervisor.last_tick
        assert h.wait(lambda: supervisor.last_tick > seen, timeout=30)  # noqa: B023


def problem(h: Harness, key: str) -> dict[str, object] | None:
    assert h.daemon is not None
    return next((n for n in h.daemon.notices.snapshot() if n["key"] == key), None)


def test_unplug_replug_during_fan_out(harness: Callable[..., Harness]) -> None:
    h = harness()
    phones = h.members(40)
    h.start()
    h.drop("a.txt", "Vol de carburant sur la zone artisanale.")
    assert h.wait(lambda: h.messages() >= 10)
    h.sim.unplug()
    daemon = h.daemon
    assert daemon is not None
    assert h.wait(lambda: not daemon.modem.ready)
    replugged = time.time()
    h.sim.replug()
    assert h.wait(lambda: bool(cmgs_after(h, replugged)))  # sending again
    assert h.wait(lambda: set(h.sent_to()) == set(phones), timeout=20)
    assert len(h.sent_to()) <= len(phones) + 1  # at most the part in flight, twice


def test_port_back_under_another_name_through_its_stable_link(
    harness: Callable[..., Harness], tmp_path: Path
) -> None:
    h = harness()
    assert h.sim.path is not None
    # The kernel's name for the modem (like /dev/ttyUSB2) is a link in a folder of its own;
    # the simulator's link plays /dev/serial/by-id, which follows the device.
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "ttyUSB2").symlink_to(h.sim.path)
    h.config = h.config.__class__(
        **{
            **h.config.__dict__,
            "modem": ModemConfig(
                port=str(dev / "ttyUSB2"),
                command_timeout=2.0,
                delivery_reports=False,
                stable_links=str(Path(h.sim.port).parent),
            ),
        }
    )
    phones = h.members(5)
    h.start()
    h.sim.unplug()
    (dev / "ttyUSB2").unlink()  # re-enumerated: ttyUSB2 is gone...
    h.sim.replug()
    assert h.sim.path is not None
    (dev / "ttyUSB3").symlink_to(h.sim.path)  # ...and the modem is ttyUSB3 now
    h.drop("a.txt", "Démarcheurs frauduleux signalés rue Victor-Hugo.")
    assert h.wait(lambda: set(h.sent_to()) == set(phones), timeout=15)


def test_modem_that_stops_answering_is_reset_and_sending_resumes(
    harness: Callable[..., Harness],
) -> None:
    faults = Faults(hang_cleared_by_reset=True)
    h = harness(faults=faults, modem={"send_timeout": 1.0})
    phones = h.members(8)
    h.start()
    faults.hang_commands = ("AT+CMGS",)  # the SMS stack wedges after start-up
    h.drop("a.txt", "Vol à l'étalage en bande organisée, galerie marchande.")
    assert h.wait(lambda: set(h.sent_to()) == set(phones), timeout=30)
    assert "AT+CFUN=1,1" in h.sim.call(lambda: list(h.sim.modem.commands))


def test_sending_pauses_while_the_network_is_lost(harness: Callable[..., Harness]) -> None:
    h = harness(latency=0.05)
    phones = h.members(20)
    h.start()
    h.drop("a.txt", "Faux policiers signalés, vérifiez la carte professionnelle.")
    assert h.wait(lambda: h.messages() >= 3)
    h.sim.call(lambda: h.sim.modem.set_network(False))
    assert h.daemon is not None
    daemon = h.daemon
    assert h.wait(lambda: not daemon.modem.status.registered)
    lost = time.time()
    checks(h, 3)
    # A send already under way when the network went may still be tried (once); after it,
    # nothing: sending pauses instead of burning retries.
    assert len(cmgs_after(h, lost)) <= 1
    h.sim.call(lambda: h.sim.modem.set_network(True))
    assert h.wait(lambda: set(h.sent_to()) == set(phones), timeout=20)
    assert daemon.db is not None
    assert len(daemon.db.query("SELECT id FROM deliveries WHERE attempts > 0")) <= 1


def test_modem_down_longer_than_threshold_one_notice_each_way(
    harness: Callable[..., Harness],
) -> None:
    h = harness(
        inbound=InboundConfig(operator_numbers=[OPERATOR]), health=HealthConfig(notify_after="1m")
    )
    daemon = h.start()
    checks(h)
    assert daemon.notices.snapshot() == []  # healthy: nothing to say
    h.sim.unplug()
    assert h.wait(lambda: problem(h, "modem_gone") is not None)
    h.clock.advance(61)  # past the threshold
    assert h.wait(lambda: (problem(h, "modem_gone") or {}).get("notified") is True)
    checks(h)  # more checks while it lasts: still one notice
    h.sim.replug()
    assert h.wait(lambda: len(notices_to(h, OPERATOR)) >= 2)
    assert h.wait(lambda: daemon.queue_snapshot()["unsent"] == 0)
    checks(h)
    texts = notices_to(h, OPERATOR)
    assert len(texts) == 2, texts
    assert "ne répond plus" in texts[0] and texts[1].startswith("modemd: résolu")


def test_short_outage_is_not_reported(harness: Callable[..., Harness]) -> None:
    h = harness(
        inbound=InboundConfig(operator_numbers=[OPERATOR]), health=HealthConfig(notify_after="30s")
    )
    daemon = h.start()
    h.sim.unplug()
    assert h.wait(lambda: problem(h, "modem_gone") is not None)  # seen, not yet told
    h.sim.replug()
    assert h.wait(lambda: daemon.modem.ready)
    assert h.wait(lambda: problem(h, "modem_gone") is None)  # over before the threshold
    assert daemon.queue_snapshot()["unsent"] == 0  # no notice queued either way
    assert notices_to(h, OPERATOR) == []


def test_exhausted_window_with_work_waiting_is_reported(harness: Callable[..., Harness]) -> None:
    h = harness(limits=LimitsConfig(per_day=3), health=HealthConfig(notify_after="1m"))
    h.members(6)
    h.start()
    h.drop("a.txt", "Cambriolage de nuit, vitrine brisée.")
    assert h.wait(lambda: h.messages() == 3)
    assert h.daemon is not None
    daemon = h.daemon
    assert h.wait(lambda: any(n["key"] == "window" for n in daemon.notices.snapshot()))
    notice = next(n for n in daemon.notices.snapshot() if n["key"] == "window")
    assert "per_day" in str(notice["text"]) and "3 SMS en attente" in str(notice["text"])


def test_expired_alert_is_reported_and_self_test(harness: Callable[..., Harness]) -> None:
    h = harness(
        inbound=InboundConfig(operator_numbers=[OPERATOR]), limits=LimitsConfig(per_minute=1)
    )
    h.members(3)
    h.start()
    h.drop("a.yaml", "message: Rixe devant le bar\nexpires_after: 10m\n")
    assert h.wait(lambda: h.messages() >= 1)
    h.clock.advance(11 * 60)
    assert h.wait(lambda: any("expirée" in t for t in notices_to(h, OPERATOR)), timeout=10)
    assert h.daemon is not None
    h.clock.advance(61)  # the SIM's minute window is used by the notice above
    h.daemon.supervisor.self_test()
    assert h.wait(lambda: any("test quotidien" in t for t in notices_to(h, OPERATOR)))


def test_metrics_endpoint_and_status(harness: Callable[..., Harness]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    h = harness(metrics=MetricsConfig(listen=f"127.0.0.1:{port}"))
    h.members(2)
    h.start()
    h.drop("a.txt", "Escroquerie aux faux ordres de virement.")
    assert h.wait(lambda: h.messages() == 2)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def metrics() -> str:
        with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    assert h.wait(lambda: "modemd_parts_sent_total 2.0" in metrics())
    assert "modemd_modem_up 1.0" in metrics()

    def status() -> dict[str, Any]:
        try:
            return dict(json.loads((h.config.state_dir / "status.json").read_text()))
        except (OSError, ValueError):
            return {}

    assert h.wait(lambda: status().get("queue", {}).get("unsent") == 0)
    assert status()["modem"]["state"] == "ready"
