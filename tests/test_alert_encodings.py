"""Alert files saved by Notepad in its other encodings: "Unicode" (UTF-16 with its byte order
mark) is read as what it says; bytes that are not plausible text are refused with a clear
``.error``, never sent."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.members.registry import Registry
from modemd.sim.pty import PtySimulator
from modemd.store.db import open_database
from modemd.testing import Harness

MESSAGE = "Vol à main armée vers 14h, bijouterie av. de la République, Aurillac. Fuite en scooter."
# Notepad's "Unicode" is UTF-16 little-endian with a BOM; "Unicode big endian" the other way.
NOTEPAD_UNICODE = b"\xff\xfe" + MESSAGE.replace("\n", "\r\n").encode("utf-16-le")
NOTEPAD_UNICODE_BE = b"\xfe\xff" + MESSAGE.encode("utf-16-be")

GARBAGE = [
    # UTF-16 whose BOM was lost: every other byte is NUL
    (MESSAGE.encode("utf-16-le"), "NUL"),
    # a binary file renamed .txt (a PNG header)
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "control character U+001A"),
    # text with a control character in it
    (b"Vol a l'etalage\x07 rue de la Gare", "control character U+0007"),
    # already mangled by an earlier conversion
    ("Vol à l\ufffdétalage, rue de la Gare".encode(), "replacement character"),
]


def modemd(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modemd", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "modemd.yaml"
    path.write_text(
        "modem: {port: 'sim://generic?latency=0.01', delivery_reports: false}\n"
        f"spool_dir: {tmp_path / 'spool'}\nstate_dir: {tmp_path / 'state'}\n"
    )
    db = open_database(tmp_path / "state")
    Registry(db).add("06 40 00 00 01", name="Bijouterie", commune="Aurillac")
    db.close()
    return path


@pytest.mark.parametrize("data", [NOTEPAD_UNICODE, NOTEPAD_UNICODE_BE], ids=["le", "be"])
def test_check_reads_notepad_unicode(config: Path, tmp_path: Path, data: bytes) -> None:
    alert = tmp_path / "alerte.txt"
    alert.write_bytes(data)
    result = modemd(config, "alert", "send", str(alert), "--check")
    assert result.returncode == 0, result.stderr
    assert "Vol à main armée vers 14h" in result.stdout  # the SMS shows the real message
    assert "\x00" not in result.stdout and "?V?o?l" not in result.stdout


@pytest.mark.parametrize(("data", "reason"), GARBAGE, ids=["nul", "binary", "bell", "fffd"])
def test_check_refuses_what_is_not_text(
    config: Path, tmp_path: Path, data: bytes, reason: str
) -> None:
    alert = tmp_path / "alerte.txt"
    alert.write_bytes(data)
    result = modemd(config, "alert", "send", str(alert), "--check")
    assert result.returncode == 2, result.stdout
    assert reason in result.stderr and "UTF-8" in result.stderr
    assert "ALERTE COMMERCE" not in result.stdout


@pytest.fixture
def harness(tmp_path: Path, make_sim: Callable[..., PtySimulator]) -> Iterator[Harness]:
    h = Harness(tmp_path / "h", make_sim("generic"))
    yield h
    h.stop()


def test_spool_sends_notepad_unicode_as_written(harness: Harness) -> None:
    h = harness
    h.members(2)
    h.start()
    h.drop("alerte.txt", NOTEPAD_UNICODE)
    assert h.wait(lambda: h.messages() == 2)
    text = next(s.text for s in h.sim.sent())
    assert "Vol à main armée vers 14h, bijouterie av. de la République" in text


def test_spool_rejects_garbage_and_sends_nothing(harness: Harness) -> None:
    h = harness
    h.members(2)
    h.start()
    for n, (data, _) in enumerate(GARBAGE):
        h.drop(f"alerte{n}.txt", data)
    assert h.wait(lambda: len(h.folder("failed")) == 2 * len(GARBAGE))
    for n, (_, reason) in enumerate(GARBAGE):
        error = (h.config.spool_dir / "failed" / f"alerte{n}.txt.error").read_text()
        assert reason in error and "not text" in error, error
    # A good file dropped after them goes out: proof the garbage was not merely slow.
    h.drop("good.txt", MESSAGE.encode())
    assert h.wait(lambda: h.messages() == 2)
    first_parts = [s.text for s in h.sim.sent() if s.concat is None or s.concat.sequence == 1]
    assert len(first_parts) == 2
    assert all("Vol à main armée vers 14h" in text for text in first_parts)
