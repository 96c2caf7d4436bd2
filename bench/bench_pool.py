"""Modem pool benchmark: does each added SIM add its full speed, and its distinct-recipient
allowance?

    .venv/bin/python bench/bench_pool.py

Fan-out efficiency of the pool = (parts x modem send time / modems) / elapsed, 1.0 meaning
every modem busy all the time (target >= 0.95 with 2 and 4 modems). Then a plan capped at
N distinct recipients a day per SIM: how many members one day of sending reaches with 1, 2
and 4 SIMs.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from modemd.config import LimitsConfig
from modemd.sim.modem import SimulatedModem
from modemd.sim.profiles import get_profile
from modemd.sim.pty import PtySimulator
from modemd.testing import Harness

PROFILES = ["huawei-e3372", "simcom-sim7600", "quectel-ec25", "generic"]


def run_pool(
    size: int, latency: float, members: int, limits: LimitsConfig | None, settle: float
) -> tuple[float, int]:
    """(pool efficiency, members served) for one alert to ``members`` members."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sims = [
            PtySimulator(
                SimulatedModem(get_profile(PROFILES[i % 4]), send_latency=latency),
                link=root / f"ttySIM{i}",
            ).start()
            for i in range(size)
        ]
        h = Harness(root, sims, sim_limits=[limits] * size if limits else None)
        h.members(members)
        h.start()
        try:
            h.drop("pool.txt", "Vol à l'étalage en bande organisée, centre commercial.")
            h.wait(lambda: len(h.sent_to()) == members, timeout=members * latency + 30)
            time.sleep(settle)  # capped runs: let the pool send all it is allowed
            sent = [s for sim in sims for s in sim.sent()]
            first = min(
                t
                for sim in sims
                for t, line in sim.call(lambda sim=sim: list(sim.modem.command_times))
                if line.startswith("AT+CMGS")
            )
            elapsed = max(s.at for s in sent) - first
        finally:
            h.stop()
            for sim in sims:
                sim.stop()
    efficiency = (len(sent) * latency / size) / elapsed
    return efficiency, len({s.recipient for s in sent})


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the figures only; warnings are expected
    print("modemd modem pool benchmark (simulated modems over ptys)", flush=True)
    for size in (1, 2, 4):
        efficiency, _ = run_pool(size, 0.3, 40 * size, None, 0.0)
        print(
            f"pool fan-out efficiency, {size} modem(s), 0.3 s a part, {40 * size} members: "
            f"{efficiency:.3f} (target >= 0.95)",
            flush=True,
        )
    cap = 25
    reached = {}
    for size in (1, 2, 4):
        _, served = run_pool(size, 0.02, 100, LimitsConfig(distinct_recipients_per_day=cap), 1.0)
        reached[size] = served
    print(
        f"distinct recipients capped at {cap} a day per SIM, 100 members: one day reaches "
        + ", ".join(f"{n} with {s} SIM(s)" for s, n in reached.items())
        + f" (x{reached[4] / max(reached[1], 1):.1f} with 4); at the 200 a day of a RED by SFR "
        f"plan that is {200 * reached[4] // max(reached[1], 1)} members instead of 200",
        flush=True,
    )


if __name__ == "__main__":
    main()
