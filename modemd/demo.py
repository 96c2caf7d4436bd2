"""``modemd demo``: a newcomer's first contact, on the built-in simulated modem.

No root, no hardware: a simulated Huawei stick on a pseudo-terminal in a temporary folder,
sample members, the sample alert of the documentation composed and sent with live progress,
then a shopkeeper's STOP and a free-text reply arriving back through the modem.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

from modemd.compose import AlertText, compose_alert
from modemd.config import AlertsConfig, ModemConfig
from modemd.modem.device import Modem
from modemd.modem.errors import ModemError
from modemd.modem.references import ReferenceCounter
from modemd.sim.modem import SimulatedModem
from modemd.sim.profiles import get_profile
from modemd.sim.pty import PtySimulator
from modemd.sms.pdu import Deliver

SAMPLE_ALERT = AlertText(
    message="Vol à main armée vers 14h, bijouterie av. de la République, Aurillac. "
    "2 individus cagoulés, fuite en scooter noir.",
    category="vol_main_armee",
)
SAMPLE_MEMBERS = [
    ("06 12 34 56 78", "Bijouterie Martin"),
    ("06 23 45 67 89", "Tabac de la Gare"),
    ("07 34 56 78 90", "Boulangerie Roux"),
    ("06 45 67 89 01", "Pharmacie Centrale"),
    ("06 56 78 90 12", "Garage Delmas"),
    ("07 67 89 01 23", "Fleurs & Co"),
    ("06 78 90 12 34", "Librairie du Pont"),
    ("06 89 01 23 45", "Épicerie Vidal"),
]


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // max(total, 1)
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def run_demo(latency: float = 0.3, subscribers: int = 8, out: TextIO | None = None) -> int:
    stream = out if out is not None else sys.stdout
    live = stream.isatty()
    members = [SAMPLE_MEMBERS[i % len(SAMPLE_MEMBERS)] for i in range(max(1, subscribers))]

    def say(text: str = "") -> None:
        print(text, file=stream, flush=True)

    with tempfile.TemporaryDirectory(prefix="modemd-demo-") as tmp:
        folder = Path(tmp)
        sim_modem = SimulatedModem(get_profile("huawei-e3372"), send_latency=latency)
        inbound: list[Deliver] = []
        arrived = threading.Condition()

        def on_sms(message: Deliver) -> None:
            with arrived:
                inbound.append(message)
                arrived.notify_all()

        with PtySimulator(sim_modem, link=folder / "ttyModem") as sim:
            say(f"Simulated modem (Huawei E3372 profile) on {sim.port} -> {sim.path}")
            modem = Modem(
                ModemConfig(port=sim.port, delivery_reports=True),
                on_sms=on_sms,
                references=ReferenceCounter(folder / "concat-ref"),
            )
            try:
                modem.start()
            except ModemError as exc:
                print(f"modemd demo: the simulated modem did not come up: {exc}", file=sys.stderr)
                return 1
            st = modem.status
            say(
                f"Modem up: {st.manufacturer} {st.model}, signal {st.signal.quality}, "
                f"{st.registration_text}, operator {st.operator}, SMS centre {st.smsc}"
            )
            composition = compose_alert(SAMPLE_ALERT, AlertsConfig())
            say("\nThe alert as it will be received:\n")
            say("  " + composition.text.replace("\n", "\n  "))
            say(
                f"\nEncoding {composition.encoding.value}, {composition.part_count} part(s) "
                f"per recipient, {len(members)} members\n"
            )
            started = time.monotonic()
            for i, (number, name) in enumerate(members, 1):
                modem.send_sms(number, composition.text, composition.encoding)
                line = f"  {_bar(i, len(members))}  {name:<22}"
                if live:  # redraw one line on a terminal; one line per step in a log
                    print("\r" + line, end="", file=stream, flush=True)
                else:
                    say(line)
            elapsed = time.monotonic() - started
            parts = len(members) * composition.part_count
            say(
                f"{chr(10) if live else ''}\nSent {parts} parts in {elapsed:.1f} s "
                f"({elapsed / parts:.2f} s a part; the modem's own send time is {latency} s)"
            )

            say("\nShopkeepers answer:")
            sim.inject_sms("+33623456789", "Stop.")
            sim.inject_sms(
                "+33734567890",
                "Un scooter noir est passé devant la boulangerie "
                "il y a 5 minutes, direction Arpajon-sur-Cère.",
            )
            with arrived:
                arrived.wait_for(lambda: len(inbound) >= 2, timeout=10)
            for message in inbound:
                say(f"  from {message.sender}: {message.text}")
            received = sim.sent()
            modem.stop()

        texts_ok = all(
            s.text == composition.parts[(s.concat.sequence - 1) if s.concat else 0]
            for s in received
        )
        say(
            f"\nSummary: {len(received)} parts reached the simulated network, decoded text "
            f"{'identical to' if texts_ok else 'DIFFERENT from'} the composed text; "
            f"{len(inbound)} replies received."
        )
        say("Next: modemd doctor against your modem, and the README for running it for real.")
        return 0 if texts_ok and len(inbound) >= 2 else 1
