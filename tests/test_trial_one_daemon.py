"""One daemon per state folder: two senders on one database would break the SIM windows and
could send twice, so a second `modemd run` on the same configuration refuses to start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.trial_support import Sim, Site, wait_for


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    sim = Sim(tmp_path)
    s = Site(tmp_path, sim.port)
    yield s
    s.close()
    sim.close()


def test_a_second_daemon_on_the_same_state_exits_1_naming_the_first(site: Site) -> None:
    first = site.run_daemon("first.log")
    assert wait_for(lambda: site.ready(first)), site.log("first.log")
    second = site.run_daemon("second.log")
    assert second.wait(30) == 1
    said = site.log("second.log")
    assert f"PID {first.pid}" in said, said
    assert str(site.state) in said
    assert "modemd started" not in said and "port busy" not in said
    # The first one did not notice anything and stops as usual.
    assert first.poll() is None
    assert site.stop(first) == 0
    # Once it is gone, a new daemon starts.
    third = site.run_daemon("third.log")
    assert wait_for(lambda: site.ready(third)), site.log("third.log")
    assert site.stop(third) == 0
