"""The durable queue's part protocol against a STOP or a cancel that lands mid-send."""

from __future__ import annotations

from pathlib import Path

from modemd.config import AlertsConfig
from modemd.members.registry import Registry
from modemd.pipeline.alerts import parse_alert
from modemd.pipeline.outbox import Outbox
from modemd.store.db import open_database

LONG = (
    "message: " + "Vol de marchandises sur les quais de livraison la nuit. " * 2 + "\n"
).encode()


def setup(tmp_path: Path) -> tuple[Outbox, Registry]:
    db = open_database(tmp_path)
    registry = Registry(db)
    registry.add("0612345678")
    registry.add("0612345679")
    outbox = Outbox(db)
    request = parse_alert("a.yaml", LONG, AlertsConfig())
    assert request.composition.part_count == 2
    outbox.accept(
        request, registry.targeted(request.target), source_name="a.yaml", source_sha256="x"
    )
    return outbox, registry


def test_stop_between_parts_is_not_undone(tmp_path: Path) -> None:
    outbox, registry = setup(tmp_path)
    job = outbox.claim("modem", 1e12)
    assert job is not None
    log_id = outbox.begin_part(job, 1, "modem", 1.0, "7")
    assert log_id is not None
    with outbox.db.transaction() as conn:  # the STOP lands while part 1 is in AT+CMGS
        assert registry.unsubscribe(conn, job.phone, "sms", 2.0) == 1
    outbox.part_sent(job, 1, "42", 3.0)
    assert not outbox.still_wanted(job.delivery_id)  # part 2 must not go
    assert outbox.begin_part(job, 2, "modem", 4.0, "7") is None
    outbox.release(job)
    state = outbox.db.one("SELECT state FROM deliveries WHERE id = ?", (job.delivery_id,))
    assert state is not None and state["state"] == "cancelled"


def test_cancel_before_the_first_part_sends_nothing(tmp_path: Path) -> None:
    outbox, _ = setup(tmp_path)
    job = outbox.claim("modem", 1e12)
    assert job is not None
    outbox.cancel(job.alert_id)
    assert outbox.begin_part(job, 1, "modem", 1.0, None) is None
    outbox.part_unknown(job, 1, "link lost")  # and a late failure path cannot requeue it
    state = outbox.db.one("SELECT state FROM deliveries WHERE id = ?", (job.delivery_id,))
    assert state is not None and state["state"] == "cancelled"


def test_claims_keep_two_modems_apart(tmp_path: Path) -> None:
    outbox, _ = setup(tmp_path)
    first = outbox.claim("a", 1e12)
    second = outbox.claim("b", 1e12)
    assert first is not None and second is not None
    assert first.delivery_id != second.delivery_id
    assert outbox.claim("c", 1e12) is None  # both deliveries are taken
    outbox.release(first)
    again = outbox.claim("c", 1e12)
    assert again is not None and again.delivery_id == first.delivery_id
