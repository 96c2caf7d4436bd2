"""Taking files from ``outgoing/``: at once when inotify says they are complete, never while
written, and every file ends in one place (unknown kinds in ``failed/`` with a reason)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.pipeline import spool
from modemd.sim.modem import Faults
from modemd.sim.pty import PtySimulator
from modemd.testing import Harness

MakeSim = Callable[..., PtySimulator]

ALERT = "message: Vol à l'étalage en bande organisée, centre commercial.\ncategory: vol_etalage\n"


@pytest.fixture
def harness(tmp_path: Path, make_sim: MakeSim) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(faults: Faults | None = None, latency: float = 0.01, **config: object) -> Harness:
        sim = make_sim("generic", faults, send_latency=latency)
        h = Harness(tmp_path / f"h{len(made)}", sim, **config)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


@pytest.fixture
def no_settle_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A timer this long never fires in a test: what is taken was taken on inotify's word."""
    monkeypatch.setattr(spool, "SETTLE", 3600.0)


def move_in(h: Harness, name: str, content: str | bytes) -> Path:
    """``mv ~/alerte.yaml outgoing/``: written in another folder, renamed in."""
    home = h.root / "home"
    home.mkdir(exist_ok=True)
    aside = home / name
    aside.write_bytes(content.encode() if isinstance(content, str) else content)
    target = h.config.spool_dir / "outgoing" / name
    os.replace(aside, target)
    return target


@pytest.mark.usefixtures("no_settle_timer")
def test_a_file_moved_in_from_another_folder_is_taken_at_once(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.members(1)
    h.start()
    move_in(h, "alerte.yaml", ALERT)
    assert h.wait(lambda: h.messages() == 1)
    assert h.folder("outgoing") == []


@pytest.mark.usefixtures("no_settle_timer")
def test_both_drop_styles_and_a_closed_file_need_no_timer(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.members(1)
    h.start()
    h.drop("renamed-inside.yaml", ALERT)
    move_in(h, "renamed-from-home.yaml", ALERT)
    (h.config.spool_dir / "outgoing" / "written-in-place.txt").write_text(
        "Vol de câbles de cuivre sur le chantier de la gare.", encoding="utf-8"
    )
    assert h.wait(lambda: h.messages() == 3)


def test_a_file_still_open_for_writing_waits_for_its_writer(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.members(1)
    h.start()
    path = h.config.spool_dir / "outgoing" / "in-place.txt"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("Première moitié, ")
        handle.flush()
        # A file moved in meanwhile goes through: the watcher has looked at both.
        move_in(h, "other.yaml", ALERT)
        assert h.wait(lambda: h.messages() == 1)
        assert "in-place.txt" in h.folder("outgoing")
        handle.write("seconde moitié.")
    assert h.wait(lambda: h.messages() == 2)
    assert any("Première moitié, seconde moitié." in s.text for s in h.sim.sent())


def test_the_polling_fallback_takes_a_file_moved_in_too(harness: Callable[..., Harness]) -> None:
    h = harness(polling=True)
    h.members(1)
    h.start()
    move_in(h, "alerte.yaml", ALERT)
    assert h.wait(lambda: h.messages() == 1)


def test_the_alert_start_is_logged_when_its_first_part_goes(
    harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    # A slow network answer: "event=start" must not wait for it.
    h = harness(faults=Faults(send_latencies=[30.0]))
    h.members(1)
    h.start()
    caplog.set_level(logging.INFO, logger="modemd.pipeline.dispatcher")
    h.drop("a.yaml", ALERT)
    assert h.wait(lambda: "event=start" in caplog.text)
    assert h.sim.sent() == []  # still waiting for the network's answer


def test_files_of_unknown_kinds_go_to_failed_with_the_kinds_taken(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.members(1)
    h.start()
    photo = b"\xff\xd8\xff\xe0 JFIF photo"
    move_in(h, "photo.jpg", photo)
    h.drop("alerte.docx", b"PK\x03\x04 word")
    (h.config.spool_dir / "outgoing" / "NOTES").write_text("sans extension\n")
    for ignored in (".hidden.jpg", "upload.docx.part", "scan.pdf.tmp", "copie.odt~"):
        (h.config.spool_dir / "outgoing" / ignored).write_bytes(b"not yet")
    expected = sorted(
        n for name in ("photo.jpg", "alerte.docx", "NOTES") for n in (name, f"{name}.error")
    )
    assert h.wait(lambda: h.folder("failed") == expected), h.folder("failed")
    error = (h.config.spool_dir / "failed" / "photo.jpg.error").read_text(encoding="utf-8")
    assert error.startswith("photo.jpg: ")
    assert ".yaml, .yml or .txt" in error
    assert (h.config.spool_dir / "failed" / "photo.jpg").read_bytes() == photo  # unchanged
    # Names that mean "not finished yet" still wait to be renamed; alerts still go.
    h.drop("good.yaml", ALERT)
    assert h.wait(lambda: h.messages() == 1)
    assert h.folder("outgoing") == sorted(
        [".hidden.jpg", "copie.odt~", "scan.pdf.tmp", "upload.docx.part"]
    )
