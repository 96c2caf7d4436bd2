"""``sim://`` ports: the built-in simulated modem, started in-process on a pseudo-terminal.

``sim://`` or ``sim://<profile>`` with optional query options, e.g.
``sim://huawei-e3372?latency=0.3&pin=1234``. The simulator keeps running across reopens of the
same URL (as a USB modem outlives the program that talks to it); tests and ``modemd demo`` reach
it with ``simulator_for(url)`` to inject SMS or pull the plug.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

from modemd.modem.errors import PortUnavailable, Stage
from modemd.modem.transport import PortSettings, SerialTransport, Transport
from modemd.sim.modem import Faults, SimulatedModem
from modemd.sim.profiles import get_profile
from modemd.sim.pty import PtySimulator

_running: dict[str, PtySimulator] = {}
_lock = threading.Lock()


def build_simulator(url: str) -> PtySimulator:
    """Parse a ``sim://`` URL into a (not yet started) simulator."""
    parts = urlsplit(url)
    profile = get_profile(parts.netloc or "generic")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    known = {"latency", "pin", "smsc", "network", "signal", "cms_error_rate"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown sim:// option(s) {', '.join(sorted(unknown))} in {url}")
    faults = Faults(cms_error_rate=float(options.get("cms_error_rate", 0)))
    modem = SimulatedModem(
        profile,
        faults,
        pin=options.get("pin"),
        smsc=options.get("smsc", "+33689004000") or None,
        network=options.get("network", "1") not in ("0", "false", "no"),
        signal=int(options.get("signal", 20)),
        send_latency=float(options["latency"]) if "latency" in options else None,
    )
    return PtySimulator(modem)


def simulator_for(url: str) -> PtySimulator:
    """The running simulator behind ``url``, started on first use."""
    with _lock:
        sim = _running.get(url)
        if sim is None:
            try:
                sim = build_simulator(url).start()
            except ValueError as exc:
                raise PortUnavailable(str(exc), stage=Stage.CONNECT) from exc
            _running[url] = sim
        return sim


def stop_all() -> None:
    with _lock:
        sims = list(_running.values())
        _running.clear()
    for sim in sims:
        sim.stop()


class _SimTransport(SerialTransport):
    def __init__(self, settings: PortSettings, url: str) -> None:
        super().__init__(settings)
        self.name = url


def open_sim_transport(settings: PortSettings) -> Transport:
    sim = simulator_for(settings.url)
    if not sim.plugged or sim.path is None:
        raise PortUnavailable(f"simulated modem {settings.url} is unplugged", stage=Stage.CONNECT)
    real = PortSettings(sim.path, settings.baudrate, settings.rtscts, settings.xonxoff)
    return _SimTransport(real, settings.url)
