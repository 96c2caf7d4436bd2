"""``modemd demo``: a newcomer's first contact, the whole daemon on the built-in simulator.

No root, no hardware: a simulated Huawei stick on a pseudo-terminal, a state folder and a spool
in a temporary directory, sample members imported from a CSV, the sample alert of the
documentation dropped into the spool, live progress, a shopkeeper's STOP arriving in the middle
of the fan-out, a free-text report forwarded to the duty officer, and a summary.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from modemd.cli.reports import bar, progress
from modemd.config import Config, InboundConfig, LimitsConfig
from modemd.members.csv_files import import_csv
from modemd.phone import normalize
from modemd.sim.modem import SimulatedModem
from modemd.sim.profiles import get_profile
from modemd.sim.pty import PtySimulator
from modemd.testing import Harness

SAMPLE_ALERT = """\
message: "Vol à main armée vers 14h, bijouterie av. de la République, Aurillac. 2 individus \
cagoulés, fuite en scooter noir."
category: vol_main_armee
target:
  communes: [Aurillac, Arpajon-sur-Cère]
issued_by: "CORG Cantal (démo)"
"""
SAMPLE_MEMBERS = [
    ("06 12 34 56 78", "Bijouterie Martin", "Aurillac", "bijouterie"),
    ("06 23 45 67 89", "Tabac de la Gare", "Aurillac", "tabac"),
    ("07 34 56 78 90", "Boulangerie Roux", "Arpajon-sur-Cère", "boulangerie"),
    ("06 45 67 89 01", "Pharmacie Centrale", "Aurillac", "pharmacie"),
    ("06 56 78 90 12", "Garage Delmas", "Arpajon-sur-Cère", "garage"),
    ("07 67 89 01 23", "Fleurs & Co", "Aurillac", "fleuriste"),
    ("06 78 90 12 34", "Librairie du Pont", "Aurillac", "librairie"),
    ("06 89 01 23 45", "Épicerie Vidal", "Arpajon-sur-Cère", "épicerie"),
    ("06 98 76 54 32", "Café des Sports", "Saint-Flour", "bar"),
]
DUTY_OFFICER = "+33699887766"


def run_demo(
    latency: float = 0.3,
    subscribers: int = 9,
    out: TextIO | None = None,
    config: Config | None = None,
    web: str | None = None,
) -> int:
    """``config``: a configuration whose SIM limits, alert settings and replies the demo
    uses (its modem, folders and operator numbers are the demo's own). ``web``: after the
    scenario, the console on that host:port, the daemon still running, until Ctrl-C."""
    stream = out if out is not None else sys.stdout
    live = stream.isatty()
    settings: dict[str, Any] = {
        "inbound": InboundConfig(operator_numbers=[DUTY_OFFICER]),
        "limits": LimitsConfig(per_minute=60),
    }
    if config is not None:
        settings = {
            "inbound": dataclasses.replace(config.inbound, operator_numbers=[DUTY_OFFICER]),
            "limits": config.limits,
            "alerts": config.alerts,
        }

    def say(text: str = "") -> None:
        print(text, file=stream, flush=True)

    with tempfile.TemporaryDirectory(prefix="modemd-demo-") as tmp:
        root = Path(tmp)
        sim = PtySimulator(
            SimulatedModem(get_profile("huawei-e3372"), send_latency=latency),
            link=root / "ttyModem",
        ).start()
        h = Harness(root, sim, **settings)
        try:
            code = _scenario(h, sim, root, subscribers, latency, say, live, stream)
            if web is not None and code == 0:
                from modemd.cli.demo_web import serve_console

                return serve_console(h, web, say)
            return code
        finally:
            h.stop()
            sim.stop()


def _scenario(
    h: Harness,
    sim: PtySimulator,
    root: Path,
    subscribers: int,
    latency: float,
    say: object,
    live: bool,
    stream: TextIO,
) -> int:
    assert callable(say)
    members = [SAMPLE_MEMBERS[i % len(SAMPLE_MEMBERS)] for i in range(max(1, subscribers))]
    csv_path = root / "adherents.csv"
    csv_path.write_bytes(
        (
            "Téléphone;Nom;Ville;Activité\r\n"
            + "".join(
                f"{phone};{name};{commune};{sector}\r\n" for phone, name, commune, sector in members
            )
        ).encode("cp1252")  # as Excel writes it in France
    )
    report = import_csv(h.registry.db, csv_path)
    say(f"1. Members imported from a CSV (Windows-1252, semicolons): {report.added} added.")
    daemon = h.start()
    st = daemon.modem.status
    say(
        f"2. Daemon up on a simulated {st.manufacturer} {st.model} ({sim.path}): signal "
        f"{st.signal.quality}, {st.registration_text}, {st.operator}, SMS centre {st.smsc}."
    )
    say("3. The duty desk drops an alert into the spool (outgoing/braquage.yaml):\n")
    say("   " + SAMPLE_ALERT.replace("\n", "\n   ").rstrip())
    h.drop("braquage.yaml", SAMPLE_ALERT)
    if not h.wait(lambda: bool(h.folder("done")), timeout=10):
        say("   the alert was not accepted: " + ", ".join(h.folder("failed")))
        return 1
    db = daemon.db
    assert db is not None
    alert = progress(db, limit=1)[0]
    text = db.one("SELECT text, encoding, parts FROM alerts WHERE id = ?", (alert.alert_id,))
    assert text is not None
    say(
        f"\n   Accepted as alert {alert.alert_id} for {alert.total} members (Aurillac and "
        f"Arpajon-sur-Cère), {text['parts']} part(s) in {text['encoding'].upper()}:\n"
    )
    say("   " + text["text"].replace("\n", "\n   "))
    say("\n4. Fan-out, as fast as the modem allows:")
    targeted = [m for m in members if m[2] != "Saint-Flour"]
    stopper = targeted[-1]
    stopped = False
    started = time.monotonic()
    while True:
        p = progress(db, alert_id=alert.alert_id)[0]
        done = p.sent + p.failed + p.cancelled
        line = f"   {bar(done, p.total)} {p.sent}/{p.total} sent, {p.cancelled} cancelled"
        print(("\r" + line) if live else line, end="" if live else "\n", file=stream, flush=True)
        if not stopped and p.sent >= 2:
            stopped = True
            sim.inject_sms(normalize(stopper[0]), "Stop.")
            print(f'\n   <- {stopper[1]} ({stopper[0]}) replies "Stop."', file=stream)
        if p.state != "active" or time.monotonic() - started > 120:
            break
        time.sleep(0.05)
    sim.inject_sms(
        targeted[0][0],
        "Un scooter noir vient de passer devant la bijouterie, direction "
        "Arpajon, il y a 2 minutes.",
    )
    h.wait(lambda: len(h.folder("incoming")) >= 1, timeout=10)
    h.wait(lambda: any(s.recipient == DUTY_OFFICER for s in sim.sent()), timeout=10)
    elapsed = time.monotonic() - started
    final = progress(db, alert_id=alert.alert_id)[0]
    member = h.registry.get(stopper[0])
    say(
        f"\n5. Done in {elapsed:.1f} s: {final.sent} sent, {final.cancelled} cancelled "
        f"(the STOP took effect before its turn), alert {final.state}."
    )
    say(
        f"   {stopper[1]} is now {member.status if member else '?'}; confirmation sent: "
        f'"{h.sim.sent()[-1].text if False else _reply_to(sim, stopper[0])}"'
    )
    incoming = h.folder("incoming")
    say(
        f"   A free-text report was filed as incoming/{incoming[0] if incoming else '?'} and "
        f"forwarded to the duty officer {DUTY_OFFICER}."
    )
    say("\nNext: `modemd doctor` against your modem, then the README to run it for real.")
    ok = final.state == "done" and member is not None and member.status == "unsubscribed"
    return 0 if ok else 1


def _reply_to(sim: PtySimulator, number: str) -> str:
    replies = [
        s.text
        for s in sim.sent()
        if s.recipient == normalize(number) and not s.text.startswith("ALERTE")
    ]
    return replies[-1] if replies else "(none)"
