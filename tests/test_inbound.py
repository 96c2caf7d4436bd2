"""Inbound SMS end to end: the simulator injects, the daemon acts, replies go out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import DEFAULT_REPLIES, InboundConfig, ModemConfig, RetentionConfig
from modemd.service.retention import purge
from modemd.sim.pty import PtySimulator
from modemd.sms.parts import Encoding
from modemd.testing import Harness

MakeSim = Callable[..., PtySimulator]
SHOP = "+33612345678"


@pytest.fixture
def harness(tmp_path: Path, make_sim: MakeSim) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(latency: float = 0.01, **config: object) -> Harness:
        sim = make_sim("huawei-e3372", send_latency=latency)
        h = Harness(tmp_path / f"h{len(made)}", sim, **config)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


def status_of(h: Harness, phone: str) -> str | None:
    member = h.registry.get(phone)
    return member.status if member else None


def replies_to(h: Harness, phone: str) -> list[str]:
    return [s.text for s in h.sim.sent() if s.recipient == phone]


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "Stop.",
        " stop svp",
        "ARRÊT",
        "arret",
        "Désinscription",
        "DESABONNEMENT",
        "unsubscribe",
        "STOP!!!",
        "«stop»",
        "Stop\nmerci pour tout",
    ],
)
def test_stop_variants(harness: Callable[..., Harness], text: str) -> None:
    h = harness()
    h.registry.add(SHOP, name="Tabac")
    h.start()
    h.sim.inject_sms(SHOP, text)
    assert h.wait(lambda: status_of(h, SHOP) == "unsubscribed")
    assert h.wait(lambda: replies_to(h, SHOP) == [DEFAULT_REPLIES["stop"]])


@pytest.mark.parametrize(
    ("text", "details"),
    [
        ("ADHESION", ""),
        ("adhésion Boulangerie Martin, Aurillac", "Boulangerie Martin, Aurillac"),
        ("Inscription: Tabac du Lioran", "Tabac du Lioran"),
        ("abonnement", ""),
        ("Start", ""),
    ],
)
def test_join_variants_wait_for_approval(
    harness: Callable[..., Harness], text: str, details: str
) -> None:
    h = harness()
    h.start()
    h.sim.inject_sms(SHOP, text)
    assert h.wait(lambda: status_of(h, SHOP) == "pending")
    member = h.registry.get(SHOP)
    assert member is not None and (member.request or "") == details
    assert h.wait(lambda: replies_to(h, SHOP) == [DEFAULT_REPLIES["adhesion_pending"]])
    h.registry.approve(SHOP)
    assert status_of(h, SHOP) == "active"


def test_auto_approve_and_resubscribe(harness: Callable[..., Harness]) -> None:
    h = harness(inbound=InboundConfig(auto_approve=True))
    h.registry.add("+33612345679")
    h.start()
    h.sim.inject_sms(SHOP, "ADHESION Fleuriste Lavergne, Murat")
    assert h.wait(lambda: status_of(h, SHOP) == "active")
    assert h.wait(lambda: replies_to(h, SHOP) == [DEFAULT_REPLIES["adhesion_accepted"]])
    h.sim.inject_sms("+33612345679", "STOP")
    assert h.wait(lambda: status_of(h, "+33612345679") == "unsubscribed")
    h.sim.inject_sms("+33612345679", "Adhésion")
    assert h.wait(lambda: status_of(h, "+33612345679") == "active")
    assert h.wait(lambda: replies_to(h, "+33612345679")[-1:] == [DEFAULT_REPLIES["resubscribed"]])


@pytest.mark.parametrize("text", ["AIDE", "aide ?", "Info", "HELP", "?", "??"])
def test_help_variants(harness: Callable[..., Harness], text: str) -> None:
    h = harness()
    h.start()
    h.sim.inject_sms(SHOP, text)
    assert h.wait(lambda: replies_to(h, SHOP) == [DEFAULT_REPLIES["help"]])


def test_free_text_goes_to_incoming_and_operators(harness: Callable[..., Harness]) -> None:
    h = harness(inbound=InboundConfig(operator_numbers=["06 99 88 77 66"]))
    h.registry.add(SHOP, name="Boulangerie Roux")
    h.start()
    text = "Le scooter noir est passé devant la boulangerie il y a 5 minutes, vers Arpajon."
    h.sim.inject_sms(SHOP, text)
    assert h.wait(lambda: len(h.folder("incoming")) == 1)
    content = (h.config.spool_dir / "incoming" / h.folder("incoming")[0]).read_text()
    head, _, body = content.partition("\n\n")
    assert head.splitlines()[0] == f"From: {SHOP}" and head.splitlines()[1].startswith("Received:")
    assert body.strip() == text
    assert h.wait(lambda: len(replies_to(h, "+33699887766")) == 1)
    forwarded = replies_to(h, "+33699887766")[0]
    assert f"SMS de {SHOP} (Boulangerie Roux)" in forwarded and "scooter noir" in forwarded
    assert replies_to(h, SHOP) == []  # no automatic reply to free text


def test_long_and_ucs2_inbound_are_reassembled(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.start()
    details = "Pâtisserie « Les Délices » 🍰, 12 rue de l’Égalité, Saint-Flour. " * 3
    h.sim.inject_sms(SHOP, "Adhésion " + details, encoding=Encoding.UCS2)
    assert h.wait(lambda: status_of(h, SHOP) == "pending")
    member = h.registry.get(SHOP)
    assert member is not None and member.request == details.strip()
    long_text = "Individu suspect rôdant autour des commerces de la place du marché. " * 4
    h.sim.inject_sms("+33612345670", long_text, concat_bits=16)
    assert h.wait(lambda: len(h.folder("incoming")) == 1)
    content = (h.config.spool_dir / "incoming" / h.folder("incoming")[0]).read_text()
    assert content.partition("\n\n")[2].strip() == long_text.strip()


def test_stop_in_the_middle_of_a_fan_out_cancels_that_number(
    harness: Callable[..., Harness],
) -> None:
    h = harness(latency=0.05)
    phones = h.members(30)
    h.start()
    h.drop("a.txt", "Faux billets de 50 € en circulation dans le centre-ville.")
    assert h.wait(lambda: h.messages() >= 3)
    late = phones[-1]
    h.sim.inject_sms(late, "STOP")
    assert h.wait(lambda: status_of(h, late) == "unsubscribed")
    assert h.wait(lambda: h.alerts()[0]["state"] == "done", timeout=20)
    alert_texts = [s for s in h.sim.sent() if s.recipient == late and "Faux billets" in s.text]
    assert alert_texts == []  # its queued alert was cancelled
    assert replies_to(h, late) == [DEFAULT_REPLIES["stop"]]  # the confirmation went first
    sent = [s.recipient for s in h.sim.sent()]
    assert sent.index(late) < len(sent) - 5
    assert sorted(set(h.sent_to()) - {late}) == sorted(phones[:-1])


@pytest.mark.parametrize("robot", ["ORANGE", "INFO SMS", "36180", "38200"])
def test_robots_get_no_reply(harness: Callable[..., Harness], robot: str) -> None:
    h = harness(inbound=InboundConfig(operator_numbers=["06 99 88 77 66"]))
    h.start()
    h.sim.inject_sms(robot, "STOP")  # a keyword from a robot is not acted upon either
    assert h.wait(lambda: len(h.folder("incoming")) == 1)
    # A shopkeeper's AIDE after it: once that reply is out, any reply to the robot would be too.
    h.sim.inject_sms(SHOP, "AIDE")
    assert h.wait(lambda: len(replies_to(h, SHOP)) == 1)
    assert [s.recipient for s in h.sim.sent()] == [SHOP]


def test_reply_limit_per_number_and_day(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.start()
    for _ in range(20):
        h.sim.inject_sms(SHOP, "AIDE")
    assert h.daemon is not None and h.daemon.db is not None
    db = h.daemon.db

    def handled() -> int:
        row = db.one("SELECT COUNT(*) AS n FROM inbound")
        return int(row["n"]) if row else 0

    assert h.wait(lambda: handled() == 20)
    assert h.wait(lambda: len(replies_to(h, SHOP)) == 3)
    daemon = h.daemon
    assert h.wait(lambda: daemon.queue_snapshot()["unsent"] == 0)  # nothing more is on its way
    assert len(replies_to(h, SHOP)) == 3
    h.clock.advance(86401)  # a day later, one more answer
    h.sim.inject_sms(SHOP, "AIDE")
    assert h.wait(lambda: len(replies_to(h, SHOP)) == 4)


def test_delivery_reports_update_each_recipient(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.config = h.config.__class__(
        **{
            **h.config.__dict__,
            "modem": ModemConfig(port=h.sim.port, command_timeout=2.0, delivery_reports=True),
        }
    )
    phones = h.members(3)
    h.start()
    h.drop("a.yaml", "message: " + "Vol de carburant à la station de la RN122. " * 3 + "\n")
    assert h.daemon is not None and h.daemon.db is not None
    db = h.daemon.db
    assert h.wait(
        lambda: (
            [r["report"] for r in db.query("SELECT report FROM deliveries ORDER BY id")]
            == ["delivered"] * 3
        )
    )
    alert_id = h.alerts()[0]["id"]
    from modemd.cli.reports import progress

    assert progress(db, alert_id=alert_id)[0].delivered == 3
    assert len(phones) == 3


def test_retention_purges_texts_not_optouts(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.registry.add(SHOP)
    h.start()
    h.sim.inject_sms(SHOP, "STOP")
    h.sim.inject_sms("+33612345670", "Un message libre")
    assert h.wait(lambda: len(h.folder("incoming")) == 1 and status_of(h, SHOP) == "unsubscribed")
    assert h.daemon is not None and h.daemon.db is not None
    db = h.daemon.db
    assert h.wait(lambda: db.one("SELECT COUNT(*) AS n FROM inbound")["n"] == 2)  # type: ignore[index]
    later = time.time() + 91 * 86400
    incoming = h.config.spool_dir / "incoming"
    for path in incoming.iterdir():
        import os

        os.utime(path, (later - 100 * 86400, later - 100 * 86400))
    result = purge(db, incoming, RetentionConfig(), now=later)
    assert result.inbound == 2 and result.files == 1
    assert db.one("SELECT COUNT(*) AS n FROM optouts")["n"] == 1  # type: ignore[index]
    assert status_of(h, SHOP) == "unsubscribed"
