"""`alert cancel` during a fan-out of long SMS: a message once begun is finished (the whole SMS
is the unit, as for an urgent alert overtaking), what had not begun is cancelled."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from modemd.config import AlertsConfig
from modemd.members.registry import Registry
from modemd.pipeline.alerts import parse_alert
from modemd.pipeline.outbox import Outbox
from modemd.store.db import open_database
from tests.trial_support import Sim, Site, wait_for

LONG = "Vol au rendez-vous : " + "deux individus repérés rue de la Gare, véhicule gris. " * 3


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Site, Sim]]:
    # One send in four answered +CMS ERROR 38 (seeded, so always the same ones): a second
    # part refused leaves a message half out, waiting 5 s for its retry.
    sim = Sim(tmp_path, "--cms-error-rate", "0.25", latency=0.2)
    s = Site(tmp_path, sim.port)
    s.members(20)
    yield s, sim
    s.close()
    sim.close()


def parts_by_recipient(sim: Sim) -> dict[str, set[int]]:
    got: dict[str, set[int]] = defaultdict(set)
    for sms in sim.sent():
        if sms["concat"] is not None:
            got[sms["recipient"]].add(sms["concat"][2])
    return got


def test_cancel_mid_message_finishes_that_message_and_cancels_the_rest(
    site: tuple[Site, Sim],
) -> None:
    s, sim = site
    daemon = s.run_daemon()
    assert wait_for(lambda: s.ready(daemon)), s.log()
    sent = s.cli("alert", "send", str(s.alert_file("long.txt", LONG)))
    assert "accepted as alert" in sent.stdout, sent
    alert_id = sent.stdout.split("accepted as alert ")[1].split()[0]

    def half_sent() -> list[dict[str, object]]:
        return [d for d in s.deliveries() if d["parts_sent"] == 1 and d["state"] == "queued"]

    assert wait_for(half_sent, timeout=30), s.deliveries()
    halfway = {str(d["phone"]) for d in half_sent()}
    cancelled = s.cli("alert", "cancel", alert_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "being finished" in cancelled.stdout

    def settled() -> bool:
        return all(d["state"] not in ("queued", "sending") for d in s.deliveries())

    assert wait_for(settled, timeout=40), s.deliveries()
    got = parts_by_recipient(sim)
    assert all(parts == {1, 2} for parts in got.values()), got
    assert halfway <= set(got)
    states = {str(d["phone"]): str(d["state"]) for d in s.deliveries()}
    assert all(states[phone] == "sent" for phone in halfway)
    assert "cancelled" in states.values()
    shown = s.cli("alert", "show", alert_id).stdout
    assert f"alert {alert_id} - cancelled" in shown
    for phone in halfway:
        assert re.search(rf"{re.escape(phone)}\s.*\bsent\b", shown), shown
    assert wait_for(lambda: f"alert {alert_id} cancelled" in s.log()), s.log()
    assert s.stop(daemon) == 0


def test_a_begun_message_of_a_cancelled_alert_is_still_wanted(tmp_path: Path) -> None:
    """The outbox's side, where the dispatcher asks between two parts."""
    db = open_database(tmp_path)
    registry = Registry(db)
    members = [registry.add(f"+3361234567{i}")[0] for i in range(3)]
    outbox = Outbox(db)
    request = parse_alert("a.txt", LONG.encode(), AlertsConfig())
    accepted = outbox.accept(request, members, source_name="a.txt", source_sha256="x")
    job = outbox.claim("modem", 1e12)
    assert job is not None and job.parts == 2
    log_id = outbox.begin_part(job, 1, "modem", 1.0, "7")
    assert log_id is not None
    outbox.part_sent(job, 1, "11", 2.0)
    assert outbox.cancel(accepted.alert_id) == 2
    assert outbox.still_wanted(job.delivery_id)
    assert outbox.begin_part(job, 2, "modem", 3.0, "7") is not None
    assert outbox.part_sent(job, 2, "12", 4.0)
    rows = db.query("SELECT state FROM deliveries ORDER BY id")
    assert [r["state"] for r in rows] == ["sent", "cancelled", "cancelled"]
    alert = db.one("SELECT state FROM alerts WHERE id = ?", (accepted.alert_id,))
    assert alert is not None and alert["state"] == "cancelled"
    db.close()
