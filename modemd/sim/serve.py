"""``modemd sim``: the simulated modem on a pseudo-terminal, for manual tests and doctor.

Prints the port path on the first line of stdout, then serves until SIGINT/SIGTERM. When stdin
is a terminal or a pipe, it takes simple commands to play the network's side.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from modemd.sim.modem import Faults, SentSms, SimulatedModem
from modemd.sim.profiles import get_profile
from modemd.sim.pty import PtySimulator

HELP = """commands:
  sms NUMBER TEXT...   deliver an inbound SMS (long texts arrive as several parts)
  sent                 list the SMS the modem has sent
  unplug | replug      pull the USB cable / plug it back
  network on|off       lose or regain the network
  quit"""


def serve(
    profile: str,
    link: Path | None,
    *,
    pin: str | None,
    latency: float | None,
    smsc: str | None,
    cms_error_rate: float,
    commands: TextIO | None,
    record: Path | None = None,
    out: TextIO = sys.stdout,
) -> int:
    link = link or Path(tempfile.mkdtemp(prefix="modemd-sim-")) / "modem"
    modem = SimulatedModem(
        get_profile(profile),
        Faults(cms_error_rate=cms_error_rate),
        pin=pin,
        smsc=smsc,
        send_latency=latency,
    )
    if record is not None:
        modem.on_sent = _recorder(record)
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with PtySimulator(modem, link=link) as sim:
        print(sim.port, file=out, flush=True)
        print(
            f"simulated {profile} modem on {sim.port} (pty {sim.path}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        if commands is not None:
            threading.Thread(target=_command_loop, args=(sim, commands, done), daemon=True).start()
        done.wait()
    return 0


def _recorder(path: Path) -> Callable[[SentSms], None]:
    """Append each SMS the simulated network received as a JSON line (for tests and
    benchmarks in other processes)."""
    handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run)

    def write(sms: SentSms) -> None:
        concat = sms.concat
        handle.write(
            json.dumps(
                {
                    "recipient": sms.recipient,
                    "text": sms.text,
                    "encoding": sms.encoding.value,
                    "reference": sms.reference,
                    "at": sms.at,
                    "concat": None
                    if concat is None
                    else [concat.reference, concat.total, concat.sequence],
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        handle.flush()

    return write


def _set_network(sim: PtySimulator, on: bool) -> None:
    sim.modem.set_network(on)


def _command_loop(sim: PtySimulator, commands: TextIO, done: threading.Event) -> None:
    for raw in commands:
        try:
            if _command(sim, raw, done):
                return
        except Exception as exc:  # a bad line must not end the session: say it, go on
            print(f"error: {exc}", file=sys.stderr, flush=True)
    if commands.isatty():  # Ctrl-D at the keyboard ends the session; a closed pipe does not
        done.set()


def _command(sim: PtySimulator, raw: str, done: threading.Event) -> bool:
    """One line typed on stdin; True to end the session. An SMS text is the rest of the
    line as typed (apostrophes and all: "J'ai vu..."), quotes around it removed."""
    words = raw.strip().split(maxsplit=2)
    if not words:
        return False
    verb = words[0].lower()
    if verb == "sms" and len(words) == 3:
        pdus = sim.inject_sms(words[1], _unquote(words[2]))
        print(f"delivered in {len(pdus)} part(s)", file=sys.stderr, flush=True)
    elif verb == "sent":
        for sms in sim.sent():
            print(f"{sms.recipient} [{sms.encoding.value}] {sms.text!r}", file=sys.stderr)
    elif verb == "unplug":
        sim.unplug()
    elif verb == "replug":
        sim.replug()
    elif verb == "network" and len(words) == 2 and words[1] in ("on", "off"):
        sim.call(functools.partial(_set_network, sim, words[1] == "on"))
    elif verb == "quit":
        done.set()
        return True
    else:
        print(HELP, file=sys.stderr, flush=True)
    return False


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text
