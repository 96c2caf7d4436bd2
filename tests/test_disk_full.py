"""A full disk (an SD card filled by other logs): nothing lost, said once to the operators and
once when over, no log flood meanwhile, and what waited is acted on as soon as room is back.

The state and the spool live on a small tmpfs of their own, really filled; mounting one needs
root, as the test machines have (elsewhere the tests are skipped, saying why)."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import InboundConfig, MetricsConfig
from modemd.service import supervisor
from modemd.sim.pty import PtySimulator
from modemd.testing import Harness

MakeSim = Callable[..., PtySimulator]

OPERATOR = "+33699000001"
ALERT = "message: Vol à l'étalage en bande organisée, centre commercial.\ncategory: vol_etalage\n"


@pytest.fixture
def card(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "card"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"a small filesystem to fill needs mount rights: {done.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(card: Path) -> Path:
    """Another program's log takes every byte left."""
    filler = card / "syslog"
    with open(filler, "ab", buffering=0) as handle:
        for size in (1 << 20, 1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * size)
    assert os.statvfs(card).f_bavail == 0
    return filler


@pytest.fixture
def harness(card: Path, make_sim: MakeSim) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(latency: float = 0.01, **config: object) -> Harness:
        sim = make_sim("generic", send_latency=latency)
        h = Harness(
            card / f"modemd{len(made)}",
            sim,
            inbound=InboundConfig(operator_numbers=[OPERATOR]),
            **config,
        )
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


def to_operator(h: Harness, words: str) -> str:
    """The operator's SMS (their parts joined) that say ``words``, or ''."""
    texts = "".join(s.text for s in h.sim.sent() if s.recipient == OPERATOR).split("modemd: ")
    return "\n".join(t for t in texts if words in t)


def alerts_to(h: Harness) -> list[str]:
    return [s.recipient for s in h.sim.sent() if s.text.startswith("ALERTE COMMERCE")]


def seconds_pass(h: Harness, seconds: float) -> None:
    """Wait for the daemon's own once-a-second job to have run that many more times."""
    assert h.daemon is not None
    supervisor = h.daemon.supervisor
    start = supervisor.last_tick
    assert h.wait(lambda: supervisor.last_tick >= start + seconds, timeout=seconds + 10)


def loud(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What a full disk must not cause: errors, tracebacks, warnings about files."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info or "cannot write" in r.getMessage()
    ]


def test_a_full_disk_loses_nothing_says_it_once_and_resumes_at_once(
    harness: Callable[..., Harness],
    card: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    # The metrics textfile, on the same card, written every tick instead of every 15 s: a
    # full disk must not make it warn at each write either.
    monkeypatch.setattr(supervisor, "TEXTFILE_EVERY", 0.0)
    h = harness(metrics=MetricsConfig(textfile=card / "modemd.prom"))
    phones = h.members(3)
    h.start()
    home = card / "home"
    home.mkdir()
    (home / "alerte.yaml").write_text(ALERT, encoding="utf-8")
    filler = fill(card)
    os.replace(home / "alerte.yaml", h.config.spool_dir / "outgoing" / "alerte.yaml")
    h.sim.inject_sms(phones[0], "STOP")

    # The operators are told, with how much is free, though nothing can be written.
    assert h.wait(lambda: to_operator(h, "disque plein")), [s.text for s in h.sim.sent()]
    assert "o libres)" in to_operator(h, "disque plein")  # how much is free
    seconds_pass(h, 4)
    assert h.folder("outgoing") == ["alerte.yaml"]  # still there, untaken
    assert alerts_to(h) == []
    assert loud(caplog) == []
    assert sum("needs a person: disque plein" in r.getMessage() for r in caplog.records) == 1

    filler.unlink()  # the administrator makes room
    # The STOP that waited on the SIM is acted on within seconds, before the alert goes out.
    assert h.wait(lambda: (s := h.registry.get(phones[0])) is not None and s.status != "active")
    assert h.wait(lambda: sorted(alerts_to(h)) == sorted(phones[1:]))
    assert h.wait(lambda: to_operator(h, "résolu"))
    assert h.folder("outgoing") == []
    assert len(h.folder("done")) == 1
    assert sum(r.getMessage().startswith("over: disque plein") for r in caplog.records) == 1
    assert sum("needs a person: disque plein" in r.getMessage() for r in caplog.records) == 1
    assert loud(caplog) == []


def test_a_fan_out_caught_by_a_full_disk_waits_and_serves_everyone_once(
    harness: Callable[..., Harness], card: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = harness(latency=0.5)
    phones = h.members(6)
    h.start()
    h.drop("alerte.yaml", ALERT)
    assert h.wait(lambda: len(alerts_to(h)) >= 1)
    filler = fill(card)  # most likely while a part is on its way: its record cannot be written
    assert h.wait(lambda: to_operator(h, "disque plein"))
    seconds_pass(h, 3)
    stalled = len(alerts_to(h))
    assert stalled < 6
    seconds_pass(h, 2)
    assert len(alerts_to(h)) == stalled  # nothing more goes while nothing can be recorded
    assert loud(caplog) == []
    filler.unlink()
    assert h.wait(lambda: sorted(alerts_to(h)) == sorted(phones))  # each once, none twice
    assert h.wait(lambda: {a["state"] for a in h.alerts() if a["kind"] == "alert"} == {"done"})
    assert loud(caplog) == []
