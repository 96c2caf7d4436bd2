"""Several SIMs as one engine: each recipient once, every SIM within its plan, failover."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import LimitsConfig, parse_config
from modemd.sim.pty import PtySimulator
from modemd.testing import FileNetwork, Harness, Network

MakeSim = Callable[..., PtySimulator]
PROFILES = ["huawei-e3372", "simcom-sim7600", "quectel-ec25", "generic"]


@pytest.fixture
def pool(tmp_path: Path, make_sim: MakeSim) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(
        size: int, latency: float = 0.03, mixed: bool = False, **config: object
    ) -> Harness:
        """``mixed``: every second member of the pool a file channel instead of a modem."""
        root = tmp_path / f"pool{len(made)}"
        sims: list[Network] = [
            FileNetwork(root / f"file{i}.jsonl", send_time=latency)
            if mixed and i % 2
            else make_sim(PROFILES[i % 4], send_latency=latency)
            for i in range(size)
        ]
        h = Harness(root, sims, **config)  # type: ignore[arg-type]
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


def per_sim(h: Harness) -> list[list[str]]:
    return [[s.recipient for s in sim.sent()] for sim in h.sims]


def windows_hold(h: Harness, caps: list[LimitsConfig]) -> None:
    assert h.daemon is not None and h.daemon.db is not None
    for i, cap in enumerate(caps):
        rows = h.daemon.db.query(
            "SELECT at, recipient FROM send_log WHERE modem = ?", (f"sim{i + 1}",)
        )
        times = [float(r["at"]) for r in rows]
        for t in times:
            if cap.per_minute:
                assert sum(1 for u in times if u <= t < u + 60) <= cap.per_minute
        if cap.distinct_recipients_per_day:
            assert len({r["recipient"] for r in rows}) <= cap.distinct_recipients_per_day


@pytest.mark.parametrize(("size", "mixed"), [(2, False), (4, False), (2, True)])
def test_every_member_exactly_once_and_the_work_is_shared(
    pool: Callable[..., Harness], size: int, mixed: bool
) -> None:
    h = pool(size, mixed=mixed)
    phones = h.members(40)
    h.start()
    h.drop(
        "a.yaml", "message: " + "Vol de câbles de cuivre sur les chantiers de la zone. " * 3 + "\n"
    )
    assert h.wait(lambda: len(h.sent_to()) == 40, timeout=30)
    assert Counter(h.sent_to()) == Counter(phones)  # each member exactly once
    shares = [len(recipients) for recipients in per_sim(h)]
    assert all(share > 0 for share in shares), shares  # every SIM worked
    for sim in h.sims:  # every long message came whole from one SIM
        by_ref: dict[tuple[str, int], list[int]] = {}
        for s in sim.sent():
            assert s.concat is not None
            by_ref.setdefault((s.recipient, s.concat.reference), []).append(s.concat.sequence)
        assert all(sorted(seqs) == [1, 2] for seqs in by_ref.values())


@pytest.mark.parametrize(("size", "mixed"), [(2, False), (4, False), (4, True)])
def test_no_sim_over_its_windows(pool: Callable[..., Harness], size: int, mixed: bool) -> None:
    caps = [LimitsConfig(per_minute=3 + i) for i in range(size)]
    h = pool(size, sim_limits=caps, mixed=mixed)
    h.members(40)
    h.start()
    h.drop("a.txt", "Faux livreur de colis, il demande un code de paiement.")
    first = sum(c.per_minute for c in caps)
    assert h.wait(lambda: len(h.sent_to()) == first)
    assert not h.wait(lambda: len(h.sent_to()) > first, timeout=0.5)
    daemon = h.daemon
    assert daemon is not None
    for _ in range(10):  # each minute, every SIM its own cap again
        before = len(h.sent_to())
        h.clock.advance(61)
        daemon.pool.wake()
        assert h.wait(lambda: len(h.sent_to()) >= min(40, before + first)), h.sent_to()  # noqa: B023
        if len(h.sent_to()) == 40:
            break
    assert len(h.sent_to()) == 40
    windows_hold(h, caps)


@pytest.mark.parametrize("size", [2, 4])
def test_one_modem_unplugged_the_others_finish(pool: Callable[..., Harness], size: int) -> None:
    h = pool(size, latency=0.05)
    phones = h.members(40)
    h.start()
    h.drop("a.txt", "Braquage en cours, restez à l'abri.")
    assert h.wait(lambda: len(h.sent_to()) >= 6)
    h.sims[0].unplug()  # and it stays away
    assert h.wait(lambda: set(h.sent_to()) == set(phones), timeout=30)
    assert len(h.sent_to()) <= len(phones) + 1  # the part in flight on the lost SIM


def test_recipients_stay_on_their_sim_under_distinct_caps(pool: Callable[..., Harness]) -> None:
    caps = [LimitsConfig(distinct_recipients_per_day=5)] * 2
    h = pool(2, sim_limits=caps)
    phones = h.members(10)
    h.start()
    h.drop("a.txt", "Premier message de la journée.")
    assert h.wait(lambda: len(h.sent_to()) == 10)
    first = per_sim(h)
    assert sorted(len(x) for x in first) == [5, 5]
    h.drop("b.txt", "Second message, aux mêmes commerces.")
    assert h.wait(lambda: len(h.sent_to()) == 20)
    second = per_sim(h)
    for before, after in zip(first, second, strict=True):
        assert set(after) == set(before)  # each member was sent again by the same SIM
    windows_hold(h, caps)
    assert sorted(set(h.sent_to())) == sorted(phones)


def test_reply_leaves_from_the_sim_that_was_texted(pool: Callable[..., Harness]) -> None:
    h = pool(2)
    h.start()
    h.sims[1].inject_sms("+33612345678", "AIDE")
    assert h.wait(lambda: len(h.sims[1].sent()) == 1)
    assert h.sims[0].sent() == []


def test_pool_config_and_single_modem_form() -> None:
    config = parse_config(
        {
            "modems": [
                {"name": "orange", "port": "/dev/serial/by-id/a", "limits": {"per_minute": 6}},
                {"name": "free", "port": "/dev/serial/by-id/b", "role": "receive"},
            ],
            "limits": {"per_minute": 2},
        }
    )
    assert [m.name for m in config.pool()] == ["orange", "free"]
    assert config.limits_of(config.pool()[0]).per_minute == 6
    assert config.limits_of(config.pool()[1]).per_minute == 2
    single = parse_config({"modem": {"port": "/dev/ttyUSB2"}})
    assert [m.name for m in single.pool()] == ["modem"]
