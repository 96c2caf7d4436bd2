"""End to end through the daemon: spool file -> database -> dispatcher -> simulated modem.

The tests marked ``over_both`` run twice: on the simulated modem and on a ``file://``
channel, the same daemon, dispatcher and throttle behind the channel interface."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modemd.config import AlertsConfig, LimitsConfig
from modemd.sim.modem import Faults
from modemd.sim.pty import PtySimulator
from modemd.testing import FileNetwork, Harness

MakeSim = Callable[..., PtySimulator]

ALERT = """\
message: "Vol à main armée vers 14h, bijouterie av. de la République, Aurillac."
category: vol_main_armee
issued_by: "CORG Cantal"
"""


over_both = pytest.mark.parametrize("channel", ["modem", "file"])


@pytest.fixture
def channel() -> str:
    return "modem"


@pytest.fixture
def harness(
    tmp_path: Path, make_sim: MakeSim, channel: str
) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def factory(faults: Faults | None = None, latency: float = 0.01, **config: object) -> Harness:
        root = tmp_path / f"h{len(made)}"
        network: PtySimulator | FileNetwork
        if channel == "file":
            assert faults is None, "faults are the simulated modem's"
            network = FileNetwork(root / "sent.jsonl", send_time=latency)
        else:
            network = make_sim("huawei-e3372", faults, send_latency=latency)
        h = Harness(root, network, **config)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


@over_both
def test_yaml_and_txt_alerts_reach_every_member(harness: Callable[..., Harness]) -> None:
    h = harness()
    phones = h.members(6, commune="Aurillac", sector="bijouterie")
    h.start()
    h.drop("braquage.yaml", ALERT)
    h.drop("faux-billets.txt", "Faux billets de 50 € en circulation à Aurillac.\n")
    # The YAML alert takes 2 parts, the text one 1: 18 parts for 6 members.
    assert h.wait(lambda: len(h.sim.sent()) == 18)
    assert sorted(h.sent_to()) == sorted(phones * 2)
    texts = [s.text for s in h.sim.sent()]
    assert texts.count(texts[0]) == 6 and texts[0].startswith("ALERTE COMMERCE - Vol à main")
    assert sum("Faux billets de 50 € en circulation" in t for t in texts) == 6
    done = h.folder("done")
    assert len(done) == 2 and all("_2" in name for name in done)  # <UTC>_<id>_<name>
    assert any(name.endswith("_braquage.yaml") for name in done)
    assert h.folder("outgoing") == []
    assert h.wait(lambda: {a["state"] for a in h.alerts()} == {"done"})


BAD_FILES: dict[str, tuple[str | bytes, str]] = {
    "syntax.yaml": ('message: "unterminated\ncategory: [x\n', "YAML error at line"),
    "unknown-key.yaml": ("message: x\nurgency: high\n", "unknown key 'urgency'"),
    "category.yaml": ("message: x\ncategory: pickpocket\n", "unknown category 'pickpocket'"),
    "empty-target.yaml": ("message: x\ntarget: {communes: []}\n", "'target' is empty"),
    "nobody.yaml": ("message: x\ntarget: {communes: [Mauriac]}\n", "matches no active member"),
    "too-long.yaml": (
        "message: " + "Très long message « sans fin » " * 16 + "\n",
        "would need 4 parts in GSM7 and max_parts is 3",
    ),
    "no-message.yaml": ("category: autre\n", "'message' is required"),
    "wrong-type.yaml": ("message: [a, b]\n", "'message' must be a text"),
    "priority.yaml": ("message: x\npriority: soon\n", "'priority' must be urgent or normal"),
    "expiry.yaml": ("message: x\nexpires_after: tomorrow\n", "'expires_after'"),
    "not-a-mapping.yaml": ("- just\n- a list\n", "must be YAML keys"),
    "binary.txt": (b"\x81\x8d\x8f\x90\x9d", "neither UTF-8 nor Windows-1252"),
}


def test_bad_files_are_rejected_with_a_reason_and_the_daemon_goes_on(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.members(2, commune="Aurillac")
    h.start()
    for name, (content, _) in BAD_FILES.items():
        h.drop(name, content)
    for ignored in (".hidden.yaml", "draft.yaml.tmp", "upload.part", "backup.yaml~"):
        (h.config.spool_dir / "outgoing" / ignored).write_text(ALERT)
    expected = sorted([*BAD_FILES, *(f"{n}.error" for n in BAD_FILES)])
    assert h.wait(lambda: h.folder("failed") == expected), set(expected) ^ set(h.folder("failed"))
    for name, (content, reason) in BAD_FILES.items():
        error = (h.config.spool_dir / "failed" / f"{name}.error").read_text()
        assert reason in error, (name, error)
        raw = content.encode() if isinstance(content, str) else content
        assert (h.config.spool_dir / "failed" / name).read_bytes() == raw  # unchanged
    h.drop("good.yaml", ALERT)
    assert h.wait(lambda: h.messages() == 2)
    assert sorted(h.folder("outgoing")) == sorted(
        [".hidden.yaml", "backup.yaml~", "draft.yaml.tmp", "upload.part"]
    )


def test_polling_fallback_takes_files_too(harness: Callable[..., Harness]) -> None:
    h = harness(polling=True)
    h.members(2)
    h.start()
    assert h.daemon is not None and not h.daemon.watcher.inotify
    h.drop("a.yaml", ALERT)
    h.drop("b.txt", "Vol de câbles de cuivre sur le chantier de la gare.")
    assert h.wait(lambda: h.messages() == 4)


def test_file_written_in_place_is_taken_once_closed(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.members(1)
    h.start()
    path = h.config.spool_dir / "outgoing" / "in-place.txt"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("Première moitié, ")
        handle.flush()
        assert not h.wait(lambda: len(h.sim.sent()) > 0, timeout=1.5)  # still open
        handle.write("seconde moitié.")
    assert h.wait(lambda: len(h.sim.sent()) == 1)
    assert "Première moitié, seconde moitié." in h.sim.sent()[0].text


@over_both
def test_same_id_twice_is_sent_once(harness: Callable[..., Harness]) -> None:
    h = harness()
    h.members(3)
    h.start()
    h.drop("a.yaml", ALERT + "id: corg15-2026-0412\n")
    assert h.wait(lambda: h.messages() == 3)
    h.drop("a-again.yaml", ALERT + "id: corg15-2026-0412\n")
    assert h.wait(lambda: len(h.folder("done")) == 2)
    assert len(h.alerts()) == 1
    alert_id = h.alerts()[0]["id"]
    assert all(f"_{alert_id}_" in name for name in h.folder("done"))
    assert not h.wait(lambda: h.messages() > 3, timeout=0.5)


def test_permanent_error_fails_one_recipient_only(harness: Callable[..., Harness]) -> None:
    h = harness()
    phones = h.members(5)
    h.sim.modem.faults.fail_numbers[phones[1]] = 1  # unassigned number
    h.start()
    h.drop("a.yaml", ALERT)
    assert h.wait(lambda: h.alerts() and h.alerts()[0]["state"] == "done")
    assert sorted(h.sent_to()) == sorted(p for p in phones if p != phones[1])
    assert h.daemon is not None and h.daemon.db is not None
    failed = h.daemon.db.query("SELECT phone, last_error FROM deliveries WHERE state='failed'")
    assert [r["phone"] for r in failed] == [phones[1]]
    assert "unassigned" in failed[0]["last_error"]


def test_transient_errors_are_retried_with_backoff(harness: Callable[..., Harness]) -> None:
    h = harness(faults=Faults(cms_error_rate=0.4, cms_error_code=42, seed=3))
    phones = h.members(8)
    h.start()
    h.drop("a.yaml", ALERT)

    def all_served() -> bool:
        h.clock.advance(30)  # backoff waits pass in fast-forward
        assert h.daemon is not None
        h.daemon.dispatcher.wake()
        return sorted(set(h.sent_to())) == sorted(phones)

    assert h.wait(all_served, step=0.05)
    assert sorted(h.sent_to()) == sorted(phones)  # a refused part is not "sent" twice


@over_both
def test_urgent_overtakes_normal_at_the_next_message(harness: Callable[..., Harness]) -> None:
    h = harness(latency=0.03)
    h.members(20)
    h.start()
    h.drop("normal.yaml", "message: Faux billets en circulation.\npriority: normal\n")
    assert h.wait(lambda: h.messages() >= 3)
    h.drop("urgent.yaml", "message: Braquage en cours, restez fermés.\npriority: urgent\n")
    assert h.wait(lambda: h.messages() == 40, timeout=20)
    kinds = ["urgent" if "Braquage" in s.text else "normal" for s in h.sim.sent()]
    first_urgent = kinds.index("urgent")
    assert kinds[first_urgent : first_urgent + 20] == ["urgent"] * 20
    assert first_urgent < 20  # it did not wait for the normal fan-out to finish


@over_both
def test_cancel_stops_what_is_unsent(harness: Callable[..., Harness]) -> None:
    h = harness(latency=0.05)
    h.members(30)
    h.start()
    h.drop("a.yaml", ALERT)
    assert h.wait(lambda: h.messages() >= 2)
    assert h.daemon is not None
    alert_id = h.alerts()[0]["id"]
    cancelled = h.daemon.outbox.cancel(alert_id)
    assert cancelled > 0
    sent_then = len(h.sim.sent())
    parts = h.alerts()[0]["parts"]
    # At most the message in flight finishes, whole (the SMS is the unit, never half of it).
    assert not h.wait(lambda: len(h.sim.sent()) > sent_then + parts, timeout=0.5)
    assert h.wait(lambda: len(h.sim.sent()) % parts == 0)
    assert h.alert_state(alert_id) == "cancelled"


@over_both
def test_expired_alert_cancels_the_rest(harness: Callable[..., Harness]) -> None:
    h = harness(limits=LimitsConfig(per_minute=2))
    h.members(6)
    h.start()
    h.drop("a.yaml", ALERT + "expires_after: 30m\n")
    assert h.wait(lambda: h.messages() == 1)  # 2 parts a message, 2 parts a minute
    h.clock.advance(31 * 60)
    alert_id = h.alerts()[0]["id"]
    assert h.wait(lambda: h.alert_state(alert_id) == "expired")
    assert h.messages() <= 2


@over_both
def test_throttle_windows_hold_across_a_restart(harness: Callable[..., Harness]) -> None:
    limits = LimitsConfig(per_minute=3, per_hour=7)
    h = harness(limits=limits)
    h.members(12)
    h.start()
    h.drop("a.txt", "Vol à l'étalage en bande organisée, centre-ville.")
    assert h.wait(lambda: len(h.sim.sent()) == 3)
    assert not h.wait(lambda: len(h.sim.sent()) > 3, timeout=0.5)  # minute window full
    h.clock.advance(61)
    assert h.wait(lambda: len(h.sim.sent()) == 6)
    h.restart()  # the send log rebuilds the windows: no early reopening
    assert not h.wait(lambda: len(h.sim.sent()) > 6, timeout=0.5)
    h.clock.advance(61)
    assert h.wait(lambda: len(h.sim.sent()) == 7)  # the hour window (7) now blocks
    assert not h.wait(lambda: len(h.sim.sent()) > 7, timeout=0.5)
    assert h.daemon is not None
    snapshot = h.daemon.status_snapshot()
    assert snapshot["dispatcher"]["blocked"]["window"] == "per_hour"
    h.clock.advance(3600)
    assert h.wait(lambda: len(h.sim.sent()) == 10)
    times = [float(r["at"]) for r in h.daemon.db.query("SELECT at FROM send_log ORDER BY at")]
    for t in times:
        assert sum(1 for u in times if u <= t < u + 60) <= 3
        assert sum(1 for u in times if u <= t < u + 3600) <= 7


@over_both
def test_sighup_style_reload_changes_a_limit_live(harness: Callable[..., Harness]) -> None:
    h = harness(limits=LimitsConfig(per_minute=2))
    h.members(5)
    h.start()
    h.drop("a.txt", "Vol à l'étalage en bande organisée, centre-ville.")
    assert h.wait(lambda: len(h.sim.sent()) == 2)
    assert h.daemon is not None
    h.daemon.throttle.reconfigure(LimitsConfig(per_minute=10))
    h.daemon.dispatcher.wake()
    assert h.wait(lambda: len(h.sim.sent()) == 5)


@over_both
def test_max_parts_from_config(harness: Callable[..., Harness]) -> None:
    h = harness(alerts=AlertsConfig(max_parts=1))
    h.members(1)
    h.start()
    h.drop("a.yaml", ALERT)
    assert h.wait(lambda: "a.yaml.error" in h.folder("failed"))
    error = (h.config.spool_dir / "failed" / "a.yaml.error").read_text()
    assert "would need 2 parts in GSM7 and max_parts is 1" in error


def test_plain_error_on_one_number_neither_blocks_nor_fills_the_sim(
    harness: Callable[..., Harness],
) -> None:
    h = harness(limits=LimitsConfig(per_minute=10))
    phones = h.members(6)
    h.sim.modem.faults.fail_numbers[phones[0]] = -1  # "ERROR", no code, to every try
    h.start()
    h.drop("a.txt", "Vol de carte bancaire au terminal de paiement.")
    assert h.wait(lambda: sorted(h.sent_to()) == sorted(phones[1:]))
    assert h.daemon is not None and h.daemon.db is not None
    row = h.daemon.db.one(
        "SELECT state, attempts, last_error FROM deliveries WHERE phone = ?", (phones[0],)
    )
    assert row is not None and row["state"] == "queued" and row["attempts"] >= 1
    assert "ERROR" in row["last_error"]
    # Refused parts never left: the minute window counts only the five sent.
    assert h.daemon.throttle.usage(h.clock())[0].used == 5
