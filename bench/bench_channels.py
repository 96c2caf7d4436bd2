"""Channels benchmark: an SMPP link's pace against its contract, and what an aggregator link
adds to four modems for the field case.

    .venv/bin/python bench/bench_channels.py [--scale 0.1]

(a) 1,200 recipients over one SMPP link with ``throughput: 50`` (the test SMSC, smpp34's
    server on 127.0.0.1): achieved rate / 50 (target >= 0.95), and the worst second as the
    SMS centre counted it, never over 50.
(b) The field case: 1,200 members, four simulated modems at 2.5 s a part, a one-part alert:
    time to warn everyone / (parts x 2.5 s / 4) (target <= 1.02), and no SIM over any window.
(c) The same with an ``overflow`` SMPP link at 50/s: time to warn everyone.

``--scale`` shrinks the modems' part time and the members of (b) and (c) (a quick look; the
ratios keep their meaning). The full run takes about 14 minutes, (b) being 12.5 of them.
"""

from __future__ import annotations

import argparse
import bisect
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from modemd.config import LimitsConfig
from modemd.members.registry import Registry
from modemd.sim.modem import SimulatedModem
from modemd.sim.profiles import get_profile
from modemd.sim.pty import PtySimulator
from modemd.store.db import open_database
from modemd.testing_smsc import TestSmsc

PROFILES = ["huawei-e3372", "simcom-sim7600", "quectel-ec25", "generic"]
ONE_PART = "Vol à l'étalage en bande, centre commercial."
SIM_LIMITS = LimitsConfig(per_minute=30, per_hour=900)  # a plan's windows, above 2.5 s a part
REPLY = "38100"


def smpp_yaml(port: int, use: str, throughput: float) -> str:
    return (
        f"  - {{name: aggregator, kind: smpp, host: 127.0.0.1, port: {port}, system_id: bench,"
        f" password: bench, source_addr: ALERTECOM, throughput: {throughput}, window: 10,"
        f" delivery_reports: false, use: {use}}}\n"
    )


def worst_second(times: list[float]) -> int:
    """The most submits in any one second (a sliding second, stricter than by the clock)."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


def worst_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + seconds) - i for i, t in enumerate(times)), default=0)


def run(
    members: int, modems: int, part_seconds: float, smpp_use: str | None, throughput: float
) -> dict[str, float]:
    """One alert to ``members`` members; the daemon in its own process (as in production),
    the SMS centre and the modems in this one, timing what they receive."""
    with tempfile.TemporaryDirectory() as tmp, TestSmsc() as smsc:
        root = Path(tmp)
        sims = [
            PtySimulator(
                SimulatedModem(get_profile(PROFILES[i % 4]), send_latency=part_seconds),
                link=root / f"ttySIM{i}",
            ).start()
            for i in range(modems)
        ]
        limits = f"{{per_minute: {SIM_LIMITS.per_minute}, per_hour: {SIM_LIMITS.per_hour}}}"
        entries = [
            f"  - {{name: sim{i + 1}, port: {sim.port}, command_timeout: 2,"
            f" delivery_reports: false, limits: {limits}}}\n"
            for i, sim in enumerate(sims)
        ]
        if smpp_use is not None:
            entries.append(smpp_yaml(smsc.port, smpp_use, throughput))
        config = root / "modemd.yaml"
        config.write_text(
            f"spool_dir: {root / 'spool'}\nstate_dir: {root / 'state'}\n"
            f"alerts: {{reply_number: '{REPLY}'}}\nchannels:\n" + "".join(entries)
        )
        db = open_database(root / "state")
        registry = Registry(db)
        for i in range(members):
            registry.add(f"+336{50_000_000 + i:08d}", commune="Montech")
        db.close()

        def served() -> int:
            return len(smsc.messages_to()) + sum(len(sim.sent()) for sim in sims)

        daemon = subprocess.Popen(
            [sys.executable, "-m", "modemd", "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ready = root / "state" / "status.json"
            deadline = time.monotonic() + 30
            while not ready.exists() and time.monotonic() < deadline:
                time.sleep(0.05)  # the daemon up before the clock starts
            outgoing = root / "spool" / "outgoing"
            (root / "alert.tmp").write_text(ONE_PART, encoding="utf-8")
            started = time.time()
            os.replace(root / "alert.tmp", outgoing / "bench.txt")
            limit = members * part_seconds / max(modems, 1) * 1.5 + members / throughput + 60
            deadline = time.monotonic() + limit
            while served() < members and time.monotonic() < deadline:
                time.sleep(0.02)
            done = time.time()
            if served() < members:
                raise SystemExit(f"only {served()} of {members} served in {limit:.0f} s")
            smpp_times = [s.at for s in smsc.accepted()]
            sim_times = [[s.at for s in sim.sent()] for sim in sims]
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(20)
            for sim in sims:
                sim.stop()
    result = {"elapsed": done - started, "smpp": float(len(smpp_times))}
    if len(smpp_times) > 1:
        span = max(smpp_times) - min(smpp_times)
        result["rate"] = (len(smpp_times) - 1) / span if span else 0.0
        result["worst_second"] = float(worst_second(smpp_times))
        result["worst_clock_second"] = float(max(Counter(int(t) for t in smpp_times).values()))
    over = 0
    for times in sim_times:
        over += worst_window(times, 60) > SIM_LIMITS.per_minute
        over += worst_window(times, 3600) > SIM_LIMITS.per_hour
    result["sims_over"] = float(over)
    result["modems"] = float(sum(len(t) for t in sim_times))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="modem part time and members")
    parser.add_argument("--only", default="abc", help="which measures, e.g. 'c'")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the figures only; warnings are expected
    print("modemd channels benchmark (test SMSC: smpp34's server; modems simulated on ptys)")
    if "a" in args.only:
        a = run(1200, 0, 2.5, "primary", 50.0)
        print(
            f"(a) 1200 recipients, one SMPP link, throughput 50: {a['rate']:.1f}/s achieved, "
            f"{a['rate'] / 50:.3f} of the contract (target >= 0.95); worst second at the SMS "
            f"centre {a['worst_clock_second']:.0f} by its clock, {a['worst_second']:.0f} in any "
            f"sliding second (never over 50); {a['elapsed']:.1f} s in all",
            flush=True,
        )
    part = 2.5 * args.scale
    members = max(40, round(1200 * args.scale))
    ideal = members * part / 4
    if "b" in args.only:
        b = run(members, 4, part, None, 50.0)
        print(
            f"(b) {members} members, 4 modems at {part:g} s a part, one part: everyone warned "
            f"in {b['elapsed']:.1f} s, {b['elapsed'] / ideal:.3f} x (parts x {part:g} s / 4) "
            f"(target <= 1.02); SIM windows exceeded: {b['sims_over']:.0f}",
            flush=True,
        )
    if "c" in args.only:
        c = run(members, 4, part, "overflow", 50.0)
        print(
            f"(c) the same with an overflow SMPP link at 50/s: everyone warned in "
            f"{c['elapsed']:.1f} s ({ideal / c['elapsed']:.1f} x faster than four modems "
            f"alone), {c['smpp']:.0f} by SMPP and {c['modems']:.0f} by the modems; SIM windows "
            f"exceeded: {c['sims_over']:.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
