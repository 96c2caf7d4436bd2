"""Pipeline benchmark on the built-in simulated modem, figures as ratios to the physical limit.

    .venv/bin/python bench/bench_pipeline.py [--quick]

Measures, in one run:
  pickup     file renamed into outgoing/ (from another folder, or from a dot name inside it),
             or an alert submitted through the operations (as `alert send` does with a
             daemon running, and the console and API will) -> first AT+CMGS (median, max)
  fan-out    parts x modem send time / elapsed, at 0.3 s and 2.0 s a part (1.0 = never idle)
  throttle   parts achieved / allowed under a per-minute cap with sends of 0.1 to 2 s, and
             the fullest 60 s window as the simulated network counts parts
  idle       CPU share and RSS of a `modemd run` process with nothing to do, and the AT
             commands a minute its modem receives meanwhile
  set-up     accepting an alert for 10,000 members, and picking the next message among them
Targets: pickup <= 0.1 s median every way; fan-out >= 0.97; throttle >= 0.95 with no window
over its cap, wherever within a send the network counts a part; idle: CPU <= 0.1 % of a core,
<= 2 AT commands a minute, RSS < 60 MB.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from modemd.config import AlertsConfig, LimitsConfig
from modemd.members.registry import Registry
from modemd.operations.actor import Actor
from modemd.operations.alerts import read_alert, submit_alert
from modemd.operations.live import read_status
from modemd.pipeline.outbox import Outbox
from modemd.pipeline.spool import Intake, Spool
from modemd.sim.modem import SimulatedModem
from modemd.sim.profiles import get_profile
from modemd.sim.pty import PtySimulator
from modemd.store.db import open_database
from modemd.testing import Harness

ALERT = "message: Vol à l'étalage en bande organisée, centre commercial.\ncategory: vol_etalage\n"


def simulator(root: Path, latency: float) -> PtySimulator:
    modem = SimulatedModem(get_profile("generic"), send_latency=latency)
    return PtySimulator(modem, link=root / "ttySIM").start()


def cmgs_times(sim: PtySimulator) -> list[float]:
    log = sim.call(lambda: list(sim.modem.command_times))
    return [t for t, line in log if line.startswith("AT+CMGS")]


def bench_pickup(runs: int, how: str) -> tuple[float, float]:
    """Alert -> first AT+CMGS: the file renamed in from another folder of the same disk
    (``mv ~/alerte.yaml outgoing/``: ``elsewhere``), from a dot name inside ``outgoing/``
    (``inside``), or submitted through the operations, the daemon woken (``submit``)."""
    latencies = []
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulator(Path(tmp), 0.3)
        h = Harness(Path(tmp), sim)
        h.members(1)
        h.start()
        db = h.registry.db
        aside = Path(tmp) / "aside"
        aside.mkdir()
        try:
            for n in range(runs):
                before = len(cmgs_times(sim))
                name = f"pickup-{n}.yaml"
                if how == "elsewhere":
                    (aside / name).write_text(ALERT, encoding="utf-8")
                    os.replace(aside / name, h.config.spool_dir / "outgoing" / name)
                    dropped = time.time()
                elif how == "inside":
                    h.drop(name, ALERT)
                    dropped = time.time()
                else:
                    dropped = time.time()
                    request = read_alert(name, ALERT.encode(), h.config)
                    submit_alert(h.config, db, request, Actor.cli())
                h.wait(lambda b=before: len(cmgs_times(sim)) > b, timeout=10, step=0.002)
                latencies.append(cmgs_times(sim)[before] - dropped)
                h.wait(lambda n=n: h.messages() == n + 1, timeout=10)
        finally:
            h.stop()
            sim.stop()
    return statistics.median(latencies), max(latencies)


def bench_fanout(latency: float, members: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulator(Path(tmp), latency)
        h = Harness(Path(tmp), sim)
        h.members(members)
        h.start()
        try:
            h.drop("fanout.yaml", ALERT)
            h.wait(lambda: h.messages() == members, timeout=members * latency * 3 + 30)
            sent = sim.sent()
            elapsed = sent[-1].at - cmgs_times(sim)[0]
        finally:
            h.stop()
            sim.stop()
    return len(sent) * latency / elapsed


def bench_throttle(cap: int, windows: int) -> tuple[float, int, int]:
    """Parts achieved / allowed under ``per_minute: cap``, each send taking 0.1 to 2 s, and
    the fullest 60 s window as the network counts: at each part's answer, and at the worst
    moment between the PDU reaching it and the answer (where an SMS centre may count it)."""
    with tempfile.TemporaryDirectory() as tmp:
        modem = SimulatedModem(get_profile("generic"), send_latency=0.1, send_latency_max=2.0)
        sim = PtySimulator(modem, link=Path(tmp) / "ttySIM").start()
        h = Harness(Path(tmp), sim, limits=LimitsConfig(per_minute=cap))
        h.members(cap * windows + cap // 2)
        h.start()
        try:
            h.drop("throttle.yaml", ALERT)
            h.wait(lambda: len(sim.sent()) > 0, timeout=10)
            start = cmgs_times(sim)[0]
            time.sleep(max(0.0, start + 60 * windows + 1 - time.time()))
            times = cmgs_times(sim)
            sent = sim.sent()
        finally:
            h.stop()
            sim.stop()
    in_run = [t for t in times if t < start + 60 * windows]
    answers = [s.at for s in sent]
    at_answer = max(sum(1 for u in answers if u <= t < u + 60) for t in answers)
    # A window [t, t + 60) can hold every part whose span [submitted, answered] meets it;
    # the fullest such window starts at some part's answer.
    spans = [(s.submitted_at, s.at) for s in sent]
    worst = max(sum(1 for b, e in spans if e >= end and b < end + 60) for _, end in spans)
    return len(in_run) / (cap * windows), at_answer, worst


@dataclass(frozen=True)
class IdleFigures:
    cpu: float  # share of one core used by the `modemd run` process
    rss_mb: float
    at_per_minute: float  # AT commands the modem received, per minute
    commands: list[str]  # the commands seen in the measured window, in order


def bench_idle(seconds: float) -> IdleFigures:
    """A real `modemd run` (its own process) on one simulated modem with nothing to do.

    The simulator runs in this process, on the pty the daemon opens as a serial port, so the
    daemon's CPU is its own (as with a USB modem) and every AT command is counted where a
    modem would see it. Both are measured over the same window, once the start-up (bring-up
    and its sweep of stored SMS) is over.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sim = simulator(root, 0.3)
        config = root / "modemd.yaml"
        config.write_text(
            f"modem: {{port: '{sim.port}'}}\n"
            f"spool_dir: {root / 'spool'}\nstate_dir: {root / 'state'}\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "modemd", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while (read_status(root / "state") or {}).get("modem", {}).get("state") != "ready":
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("modemd run did not bring the simulated modem up")
                time.sleep(0.1)
            time.sleep(3.0)  # the start-up sweep and first status writes are over
            seen = len(sim.call(lambda: list(sim.modem.commands)))
            before = _cpu_seconds(proc.pid)
            started = time.monotonic()
            time.sleep(seconds)
            used = _cpu_seconds(proc.pid) - before
            elapsed = time.monotonic() - started
            commands = sim.call(lambda: list(sim.modem.commands))[seen:]
            status = Path(f"/proc/{proc.pid}/status").read_text().splitlines()
            rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        finally:
            proc.terminate()
            proc.wait(15)
            sim.stop()
    return IdleFigures(
        cpu=used / elapsed,
        rss_mb=rss_kb / 1024,
        at_per_minute=len(commands) * 60 / elapsed,
        commands=commands,
    )


def _cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid``, to the nanosecond (schedstat), where the
    clock ticks of /proc/PID/stat (10 ms) would be too coarse for an idle process."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def bench_setup(members: int) -> tuple[float, float]:
    """The intake alone (no modem): parse, target, write the alert and its deliveries."""
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Path(tmp) / "state")
        now = time.time()
        with db.transaction() as conn:
            conn.executemany(
                "INSERT INTO subscribers (phone, status, created_at, updated_at) "
                "VALUES (?, 'active', ?, ?)",
                [(f"+336{30_000_000 + i:08d}", now, now) for i in range(members)],
            )
        spool = Spool(Path(tmp) / "spool")
        spool.ensure()
        outbox = Outbox(db)
        intake = Intake(spool, outbox, Registry(db), AlertsConfig())
        path = spool.outgoing / "big.yaml"
        path.write_text(ALERT, encoding="utf-8")
        started = time.perf_counter()
        outcome = intake.take(path)
        setup = time.perf_counter() - started
        assert outcome is not None and outcome.recipients == members, outcome
        started = time.perf_counter()
        for _ in range(50):
            job = outbox.claim("modem", time.time())
            assert job is not None
            outbox.release(job)
        pick = (time.perf_counter() - started) / 50
        db.close()
    return setup, pick


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the figures only; warnings are expected
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, rougher figures")
    quick = parser.parse_args().quick
    print("modemd pipeline benchmark (simulated modem over a pty)", flush=True)
    for how, style in (
        ("elsewhere", "renamed from another folder"),
        ("inside", "renamed inside outgoing/"),
        ("submit", "submitted through the operations"),
    ):
        median, worst = bench_pickup(5 if quick else 15, how)
        print(
            f"pickup latency       {style}: median {median:.3f} s, max {worst:.3f} s "
            f"(= {median / 0.3:.2f} x and {worst / 0.3:.2f} x one 0.3 s send; "
            "target <= 0.1 s)",
            flush=True,
        )
    for latency, members in ((0.3, 30 if quick else 100), (2.0, 5 if quick else 20)):
        eff = bench_fanout(latency, members)
        print(
            f"fan-out efficiency   {eff:.3f} at {latency} s a part, {members} members "
            "(target >= 0.97)",
            flush=True,
        )
    cap = 20
    achieved, at_answer, worst = bench_throttle(cap, 1 if quick else 2)
    print(
        f"throttle efficiency  {achieved:.3f} of per_minute={cap}, sends of 0.1 to 2 s; "
        f"fullest 60 s window seen by the network {at_answer}/{cap} counted at the answers, "
        f"{worst}/{cap} at worst within each send (target >= 0.95, never over)",
        flush=True,
    )
    idle = bench_idle(60 if quick else 180)
    print(
        f"idle modemd run      CPU {idle.cpu * 100:.3f} % of a core, RSS {idle.rss_mb:.1f} MB, "
        f"{idle.at_per_minute:.1f} AT commands a minute "
        "(targets <= 0.1 %, < 60 MB, <= 2 a minute)",
        flush=True,
    )
    setup, pick = bench_setup(10_000)
    print(
        f"fan-out set-up       {setup:.3f} s for 10,000 members (= {setup / 2.0:.2f} x one "
        f"2.0 s send); next-message query {pick * 1000:.2f} ms "
        f"(= {pick / 0.3 * 100:.2f} % of a 0.3 s send)",
        flush=True,
    )


if __name__ == "__main__":
    main()
