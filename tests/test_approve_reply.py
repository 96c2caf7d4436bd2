"""``subscribers approve``: the shopkeeper is told by SMS, and the member gets a name, a
commune and a trade (read from the request, or given on the command line), so alerts targeted
by commune or trade reach them. The CLI queues the SMS; the running daemon sends it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import DEFAULT_REPLIES
from modemd.members.registry import Registry, guess_details
from modemd.sim.pty import PtySimulator
from modemd.store.db import open_database
from modemd.testing import Harness

BAKER = "+33612345678"
TOBACCONIST = "+33612345679"


def modemd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modemd", "subscribers", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def running(
    tmp_path: Path, make_sim: Callable[..., PtySimulator]
) -> Iterator[tuple[Harness, Path]]:
    """A daemon on the simulator, and a config file for the CLI over the same folders."""
    h = Harness(tmp_path / "h", make_sim("huawei-e3372"))
    h.registry.add("0640000001", name="Tabac Central", commune="Aurillac", sector="tabac")
    h.registry.add(
        "0640000002", name="Au Bon Pain", commune="Arpajon-sur-Cère", sector="boulangerie"
    )
    config = tmp_path / "modemd.yaml"
    config.write_text(f"spool_dir: {h.config.spool_dir}\nstate_dir: {h.config.state_dir}\n")
    h.start()
    yield h, config
    h.stop()


def replies_to(h: Harness, phone: str) -> list[str]:
    return [s.text for s in h.sim.sent() if s.recipient == phone]


def member(config: Path, phone: str) -> dict[str, str]:
    listed = modemd(config, "list", "--json")
    return next(m for m in json.loads(listed.stdout) if m["phone"] == phone)


def test_approve_tells_the_shop_and_fills_in_the_member(running: tuple[Harness, Path]) -> None:
    h, config = running
    h.sim.inject_sms(BAKER, "adhésion Boulangerie Martin, aurillac")
    assert h.wait(lambda: replies_to(h, BAKER) == [DEFAULT_REPLIES["adhesion_pending"]])

    result = modemd(config, "approve", "06 12 34 56 78")
    assert result.returncode == 0, result.stderr
    assert "approved" in result.stdout and "Boulangerie Martin" in result.stdout
    assert h.wait(
        lambda: replies_to(h, BAKER)
        == [DEFAULT_REPLIES["adhesion_pending"], DEFAULT_REPLIES["adhesion_accepted"]]
    )
    approved = member(config, BAKER)
    assert approved["status"] == "active"
    # The commune as the registry already spells it; the trade a known one.
    assert (approved["name"], approved["commune"], approved["sector"]) == (
        "Boulangerie Martin",
        "Aurillac",
        "boulangerie",
    )

    h.drop("alerte.yaml", "message: Faux billets de 50.\ntarget: {communes: [Aurillac]}\n")
    assert h.wait(lambda: len(replies_to(h, BAKER)) == 3)
    assert "Faux billets de 50." in replies_to(h, BAKER)[2]


def test_options_win_over_the_request(running: tuple[Harness, Path]) -> None:
    h, config = running
    h.sim.inject_sms(TOBACCONIST, "Inscription: Tabac du Lioran")
    assert h.wait(lambda: len(replies_to(h, TOBACCONIST)) == 1)
    result = modemd(
        config, "approve", TOBACCONIST, "--commune", "Laveissière", "--name", "Tabac-Presse"
    )
    assert result.returncode == 0, result.stderr
    assert h.wait(lambda: replies_to(h, TOBACCONIST)[-1:] == [DEFAULT_REPLIES["adhesion_accepted"]])
    approved = member(config, TOBACCONIST)
    assert (approved["name"], approved["commune"], approved["sector"]) == (
        "Tabac-Presse",
        "Laveissière",
        "tabac",
    )


def test_approve_without_the_daemon_is_sent_when_it_runs(
    tmp_path: Path, make_sim: Callable[..., PtySimulator]
) -> None:
    h = Harness(tmp_path / "h", make_sim("generic"))
    db = open_database(h.config.state_dir)
    with db.transaction() as conn:
        Registry(db).request_join(conn, BAKER, "Fleuriste Lavergne, Murat", False, 1.0)
    db.close()
    config = tmp_path / "modemd.yaml"
    config.write_text(f"spool_dir: {h.config.spool_dir}\nstate_dir: {h.config.state_dir}\n")
    result = modemd(config, "approve", BAKER)
    assert result.returncode == 0, result.stderr
    assert "queued" in result.stdout
    approved = member(config, BAKER)
    assert (approved["name"], approved["commune"], approved["sector"]) == (
        "Fleuriste Lavergne",
        "Murat",
        "fleuriste",
    )
    h.start()
    try:
        assert h.wait(lambda: replies_to(h, BAKER) == [DEFAULT_REPLIES["adhesion_accepted"]])
    finally:
        h.stop()


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("Boulangerie Martin, Aurillac", ("Boulangerie Martin", "Aurillac", "boulangerie")),
        (
            "boucherie charcuterie Dupont, arpajon sur cere",
            ("boucherie charcuterie Dupont", "Arpajon-sur-Cère", "boucherie-charcuterie"),
        ),
        ("Tabac du Lioran", ("Tabac du Lioran", "", "tabac")),
        ("Garage Roux à Murat", ("Garage Roux", "Murat", "garage")),
        ("Pharmacie Centrale - Saint-Flour", ("Pharmacie Centrale", "Saint-Flour", "pharmacie")),
        ("Chez Paulo, Vic-sur-Cère", ("Chez Paulo", "Vic-sur-Cère", "")),
        ("Le Cantou Aurillac", ("Le Cantou", "Aurillac", "")),
        ("", ("", "", "")),
    ],
)
def test_details_read_from_a_request(request_text: str, expected: tuple[str, str, str]) -> None:
    communes = ["Aurillac", "Arpajon-sur-Cère", "Murat"]
    sectors = ["boulangerie", "boucherie-charcuterie", "tabac"]
    details = guess_details(request_text, communes, sectors)
    assert (details.name, details.commune, details.sector) == expected
