"""`modemd alert send` says what became of *this* drop: its own alert, a repeated `id` sent
once, or a file left queued because no daemon is running."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.trial_support import Sim, Site, wait_for


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    sim = Sim(tmp_path, latency=0.01)
    s = Site(tmp_path, sim.port)
    s.members(3)
    yield s
    s.close()
    sim.close()


def alert_ids(site: Site) -> list[str]:
    listing = json.loads(site.cli("alert", "list", "--json").stdout)
    return sorted(a["alert_id"] for a in listing)


def test_without_a_daemon_it_says_so_at_once_and_leaves_the_file_queued(site: Site) -> None:
    alert = site.alert_file("vol.txt", "Vol à l'étalage rue des Forgerons.")
    result = site.cli("alert", "send", str(alert))
    assert result.returncode == 0, result.stderr
    assert "no modemd daemon is running" in result.stdout
    assert "queued as outgoing/vol.txt" in result.stdout
    assert (site.spool / "outgoing" / "vol.txt").exists()


def test_each_drop_reports_its_own_alert(site: Site) -> None:
    daemon = site.run_daemon()
    assert wait_for(lambda: site.ready(daemon)), site.log()
    alert = site.alert_file("vol.txt", "Vol à l'étalage rue des Forgerons.")
    first = site.cli("alert", "send", str(alert))
    assert first.returncode == 0 and "accepted as alert" in first.stdout, first
    first_id = first.stdout.split("accepted as alert ")[1].split()[0]
    # The same file name again (a new alert: it has no `id`), after the first has gone out.
    assert wait_for(lambda: site.cli("alert", "show", first_id).stdout.count(" sent") >= 3)
    second = site.cli("alert", "send", str(alert))
    assert second.returncode == 0 and "accepted as alert" in second.stdout, second
    second_id = second.stdout.split("accepted as alert ")[1].split()[0]
    assert second_id != first_id
    assert alert_ids(site) == sorted([first_id, second_id])
    as_json = json.loads(site.cli("alert", "send", str(alert), "--json").stdout)
    assert as_json["state"] == "accepted" and as_json["alert_id"] not in (first_id, second_id)
    assert site.stop(daemon) == 0


def test_a_repeated_id_says_already_sent_not_accepted(site: Site) -> None:
    daemon = site.run_daemon()
    assert wait_for(lambda: site.ready(daemon)), site.log()
    alert = site.alert_file("braquage.yaml", "message: Braquage au tabac.\nid: corg15-7\n")
    first = site.cli("alert", "send", str(alert))
    assert "accepted as alert" in first.stdout, first
    first_id = first.stdout.split("accepted as alert ")[1].split()[0]
    again = site.cli("alert", "send", str(alert))
    assert again.returncode == 0, again.stderr
    assert "accepted" not in again.stdout
    assert f"already sent as alert {first_id}" in again.stdout
    assert "not sent again" in again.stdout
    as_json = json.loads(site.cli("alert", "send", str(alert), "--json").stdout)
    assert as_json["state"] == "duplicate" and as_json["alert_id"] == first_id
    assert alert_ids(site) == [first_id]
    assert site.stop(daemon) == 0
