"""Opting out in the shopkeeper's own words, end to end: the simulated network delivers each
reply to a running daemon, which unsubscribes, marks it for the operators as a possible
opt-out, or passes it on as a plain message. The corpus is the table's test."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import DEFAULT_REPLIES, InboundConfig
from modemd.sim.pty import PtySimulator
from modemd.testing import Harness

OPERATOR = "+33699887766"

# Replies that must unsubscribe, as shopkeepers write them.
OPT_OUTS = [
    "Arrêtez de m’envoyer ces messages",
    "Arretez de m'envoyer vos sms svp",
    "arrêtez de m envoyer des messages !!",
    "Merci de ne plus m'envoyer de SMS",
    "Je ne souhaite plus recevoir vos alertes",
    "je veux plus recevoir ces messages",
    "je ne veux plus",
    "Je souhaite me désinscrire",
    "désinscrivez-moi svp",
    "Bonjour, pouvez-vous me retirer de la liste ? Merci",
    "Retirez moi de votre liste",
    "Supprimez mon numéro s'il vous plaît",
    "Plus de SMS svp",
    "STOP SMS",
    "Stop merci",
    "stop svp",
    "STOP aux SMS",
    "STOP au vol, j'en ai marre de vos SMS",
    "Stop\nmerci pour tout",
    "ok stop",
    "Merci, stop.",
    "Arrêtez !",
    "arretez svp",
    "Laissez-moi tranquille",
    "Je ne suis plus intéressé par vos messages",
    "N'envoyez plus rien à ce numéro",
    "Ne m'envoyez plus de messages",
    "Cessez de m'écrire",
    "je me désabonne",
    "Merci mais stop les alertes",
    "C'est bon stop",
    "Pas la peine de m'envoyer ça, j'ai fermé",
    "Unsubscribe me please",
    "Désabonnement svp",
    "Arrêtez-les ! Et arrêtez de m'envoyer ces SMS",
]
# Not acted upon, but marked for the operators as a possible opt-out.
POSSIBLE = [
    "STOP au vol",
    "stop au vol !",
    "Stop aux cambriolages dans le centre",
    "STOP à la violence",
    "Stop les voleurs",
    "Trop de messages",
    "J'ai fermé ma boutique le mois dernier",
    "Je suis à la retraite depuis mars",
    "Mauvais numéro",
    "pas intéressé",
    "Arrêtez les !",
    "Vous pouvez arrêter ?",
]
# Plain messages for the operators.
NOT_OPT_OUTS = [
    "arrêtez-les !",
    "Arrêtez-le vite, il part vers la gare",
    "Surtout n'arrêtez pas, c'est très utile",
    "On a vu le voleur rue de la Gare, arrêtez ce type",
    "Je ne veux pas me désinscrire, je change juste de numéro",
    "Le scooter noir est passé devant la boulangerie il y a 5 minutes",
    "Merci pour l'info",
]
CORPUS = (
    [(t, "unsubscribed") for t in OPT_OUTS]
    + [(t, "possible") for t in POSSIBLE]
    + [(t, "other") for t in NOT_OPT_OUTS]
)


@pytest.fixture
def harness(tmp_path: Path, make_sim: Callable[..., PtySimulator]) -> Iterator[Harness]:
    h = Harness(
        tmp_path / "h",
        make_sim("huawei-e3372"),
        inbound=InboundConfig(operator_numbers=[OPERATOR]),
    )
    yield h
    h.stop()


def phone(n: int) -> str:
    return f"+3361000{n:04d}"


def incoming(h: Harness) -> dict[str, str]:
    """incoming/ files by sender."""
    folder = h.config.spool_dir / "incoming"
    found = {}
    for path in folder.glob("*.txt") if folder.exists() else []:
        text = path.read_text(encoding="utf-8")
        found[text.splitlines()[0].removeprefix("From: ")] = text
    return found


def count(h: Harness, sql: str) -> int:
    assert h.daemon is not None and h.daemon.db is not None
    row = h.daemon.db.one(sql)
    return int(row[0]) if row is not None else 0


def test_corpus_end_to_end(harness: Harness) -> None:
    h = harness
    for n in range(len(CORPUS)):
        h.registry.add(phone(n), name=f"Commerce {n}")
    h.start()
    for n, (text, _) in enumerate(CORPUS):
        # One at a time: the SIM's storage holds only so many, as on a real one.
        h.sim.inject_sms(phone(n), text)
        assert h.wait(lambda n=n: count(h, "SELECT COUNT(*) FROM inbound") == n + 1)
    # Every SMS the replies caused (confirmations, forwards) sent.
    assert h.wait(
        lambda: count(h, "SELECT COUNT(*) FROM deliveries WHERE state IN ('queued', 'sending')")
        == 0,
        timeout=40,
    )
    files = incoming(h)
    forwards = [s.text for s in h.sim.sent() if s.recipient == OPERATOR]
    replies: dict[str, list[str]] = {}
    for sent in h.sim.sent():
        replies.setdefault(sent.recipient, []).append(sent.text)
    wrong = []
    for n, (text, outcome) in enumerate(CORPUS):
        member = h.registry.get(phone(n))
        assert member is not None
        got = "unsubscribed" if member.status == "unsubscribed" else "other"
        if got == "other":
            note = files[phone(n)].split("\n\n", 1)[0]
            flagged = "possible opt-out" in note
            forward = next((f for f in forwards if f"SMS de {phone(n)}" in f), "")
            assert flagged == ("DESINSCRIPTION POSSIBLE" in forward), (text, forward)
            got = "possible" if flagged else "other"
        elif DEFAULT_REPLIES["stop"] not in replies.get(phone(n), []):
            got = "unsubscribed without the confirmation"
        if got != outcome:
            wrong.append(f"{text!r}: {got}, expected {outcome}")
    assert wrong == []


def test_possible_opt_out_is_clear_and_the_cli_acts_on_it(harness: Harness) -> None:
    h = harness
    h.registry.add(phone(1), name="Bijouterie Dupré")
    h.start()
    h.sim.inject_sms(phone(1), "STOP au vol")
    assert h.wait(lambda: phone(1) in incoming(h))
    head, _, body = incoming(h)[phone(1)].partition("\n\n")
    assert body.strip() == "STOP au vol"
    assert "possible opt-out" in head and f"modemd subscribers unsubscribe {phone(1)}" in head
    assert h.wait(lambda: any(s.recipient == OPERATOR for s in h.sim.sent()))
    forward = next(s.text for s in h.sim.sent() if s.recipient == OPERATOR)
    assert forward.startswith("Alerte Commerces - DESINSCRIPTION POSSIBLE ?")
    assert "Bijouterie Dupré" in forward and "STOP au vol" in forward
    member = h.registry.get(phone(1))
    assert member is not None and member.status == "active"
    assert not any(s.recipient == phone(1) for s in h.sim.sent())  # no reply to free text

    config = h.root / "modemd.yaml"
    config.write_text(f"spool_dir: {h.config.spool_dir}\nstate_dir: {h.config.state_dir}\n")
    command = ["subscribers", "unsubscribe", phone(1), "--config", str(config)]
    result = subprocess.run(
        [sys.executable, "-m", "modemd", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "unsubscribed" in result.stdout
    member = h.registry.get(phone(1))
    assert member is not None and member.status == "unsubscribed"
    assert h.wait(
        lambda: [s.text for s in h.sim.sent() if s.recipient == phone(1)]
        == [DEFAULT_REPLIES["stop"]]
    )
