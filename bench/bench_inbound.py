"""STOP latency: from the simulated network delivering "STOP" to the number's status being
``unsubscribed`` in the database, idle and in the middle of a fan-out.

    .venv/bin/python bench/bench_inbound.py

The physical limit during a fan-out is the send in progress (the modem answers one command at
a time): figures are also given as a ratio to that send time. Target: under 1 s on the
simulator. For reference, gammu-smsd and smstools3 only write a file for a script to handle,
7-11 s after arrival on a similar simulated modem.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

from modemd.members.registry import Registry
from modemd.sim.modem import SimulatedModem
from modemd.sim.profiles import get_profile
from modemd.sim.pty import PtySimulator
from modemd.store.db import open_database
from modemd.testing import Harness


def stop_latencies(latency: float, fan_out: bool, runs: int) -> list[float]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sim = PtySimulator(
            SimulatedModem(get_profile("huawei-e3372"), send_latency=latency), link=root / "ttySIM"
        ).start()
        h = Harness(root, sim)
        phones = h.members(runs + (400 if fan_out else 0))
        h.start()
        reader = Registry(open_database(h.config.state_dir))  # another connection, as `list`
        try:
            if fan_out:
                h.drop("fanout.txt", "Vol à l'étalage en bande organisée, centre commercial.")
                h.wait(lambda: h.messages() >= 2, timeout=30)
            for phone in phones[-runs:]:
                sim.inject_sms(phone, "STOP")
                injected = time.perf_counter()
                while (member := reader.get(phone)) is None or member.status != "unsubscribed":
                    time.sleep(0.001)
                results.append(time.perf_counter() - injected)
                # Idle: let the STOP confirmation go out first, so the next STOP finds the
                # modem free; during a fan-out, land at varied moments of a send.
                time.sleep(latency + 0.2 if not fan_out else latency * 0.7)
        finally:
            h.stop()
            sim.stop()
    return results


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the figures only; warnings are expected
    print("modemd STOP latency (simulated modem over a pty)", flush=True)
    for label, latency, fan_out, runs in (
        ("idle", 0.3, False, 20),
        ("during a fan-out", 0.3, True, 20),
        ("during a fan-out", 2.0, True, 8),
    ):
        values = stop_latencies(latency, fan_out, runs)
        median, worst = statistics.median(values), max(values)
        print(
            f"STOP -> unsubscribed, {label:<17} at {latency} s a send: median {median:.3f} s,"
            f" max {worst:.3f} s (= {median / latency:.2f} x / {worst / latency:.2f} x the "
            f"send time; target < 1 s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
