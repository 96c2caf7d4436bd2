"""The SMPP channel against an SMS centre modemd did not write (smpp34's server, scripted by
``modemd.testing_smsc``), through the real daemon, pool, dispatcher and outbox.

Every recipient is served exactly once except what was in doubt; throttling answers slow the
link without failing anyone; an invalid number fails that recipient only; receipts give
"X of Y delivered"; a STOP received on the link unsubscribes and cancels what was queued,
and its confirmation leaves on the link; a cut link is bound again and the fan-out goes on.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import ssl
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from modemd.cli.alerts import alert_show
from modemd.cli.doctor import run_doctor
from modemd.cli.status import status
from modemd.config import AlertsConfig, Config, ConfigError, parse_config
from modemd.pipeline.compose import AlertText, compose_alert
from modemd.service.daemon import Daemon
from modemd.testing_smsc import ACCEPT, HOLD, Submitted, TestSmsc
from tests.smpp_support import (
    MESSAGE,
    add_members,
    alert_done,
    drop_alert,
    make_config,
    smpp_channel,
    start,
    states,
    wait_for,
)


@pytest.fixture
def smsc() -> TestSmsc:
    server = TestSmsc().start()
    yield server  # type: ignore[misc]
    server.stop()


def smpp_yaml(**extra: object) -> dict[str, object]:
    entry = {
        "name": "agg",
        "kind": "smpp",
        "host": "smpp.example.net",
        "system_id": "cci82",
        "password": "hunter2",
        "source_addr": "ALERTECOM",
        **extra,
    }
    return {"channels": [{"name": "usb", "port": "sim://"}, entry]}


def start_daemon(cfg: Config) -> Daemon:
    """Started without waiting for the link (it may never come up)."""
    daemon = Daemon(cfg)
    daemon.start()
    return daemon


def test_config_channels_generalise_modems() -> None:
    cfg = parse_config({**smpp_yaml(), "alerts": {"reply_number": "38100"}})
    usb, agg = cfg.pool()
    assert (usb.kind, agg.kind, agg.use, agg.tcp_port, agg.window) == (
        "modem",
        "smpp",
        "primary",
        2775,
        10,
    )
    assert "hunter2" not in repr(agg)  # never in a log line that shows the settings
    # A phone cannot answer ALERTECOM: without a reply number, no start.
    with pytest.raises(ConfigError, match=r"channels\[1\].source_addr.*reply_number"):
        parse_config(smpp_yaml())
    parse_config(smpp_yaml(source_addr="38100"))  # a short code can be answered
    with pytest.raises(ConfigError, match=r"channels\[0\].host: only for kind: smpp"):
        parse_config({"channels": [{"name": "usb", "port": "sim://", "host": "x"}]})
    with pytest.raises(ConfigError, match=r"channels\[1\].use: must be one of"):
        parse_config(smpp_yaml(use="sometimes", source_addr="38100"))
    with pytest.raises(ConfigError, match=r"channels\[1\].port: a TCP port"):
        parse_config(smpp_yaml(port="/dev/ttyUSB0", source_addr="38100"))
    # `modems:` keeps working, and may say how each modem is used.
    old = parse_config(
        {"modems": [{"name": "a", "port": "sim://"}, {"name": "b", "port": "x", "use": "backup"}]}
    )
    assert [m.use for m in old.pool()] == ["primary", "backup"]


def test_fan_out_throttled_refused_and_receipts(
    tmp_path: Path,
    smsc: TestSmsc,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = make_config(tmp_path, [smpp_channel(smsc.port)])
    phones = add_members(cfg, 12)
    invalid, undelivered, expired = phones[3], phones[5], phones[8]
    throttled = {"left": 6}

    def decide(s: Submitted) -> str | int:
        if s.destination == invalid.lstrip("+"):
            return 0x0B  # ESME_RINVDSTADR: never
        if throttled["left"] > 0:
            throttled["left"] -= 1
            return 0x58  # ESME_RTHROTTLED: later
        return ACCEPT

    smsc.decide = decide
    smsc.receipt = lambda s: {
        undelivered.lstrip("+"): "UNDELIV",
        expired.lstrip("+"): "EXPIRED",
    }.get(s.destination, "DELIVRD")
    daemon = start(cfg)
    try:
        drop_alert(cfg)
        assert wait_for(lambda: alert_done(cfg)), states(cfg)
        served = Counter(smsc.messages_to())
        assert served == Counter(p.lstrip("+") for p in phones if p != invalid)
        assert states(cfg) == {"sent": 11, "failed": 1}
        assert smsc.submits[0].status == 0x58  # the throttling was really met

        def all_receipted() -> bool:
            assert daemon.db is not None
            row = daemon.db.one(
                "SELECT COUNT(*) AS n FROM deliveries WHERE state = 'sent' "
                "AND report IS NOT 'delivered' AND report IS NOT 'failed'"
            )
            return row is not None and row["n"] == 0

        assert wait_for(all_receipted), "receipts did not all arrive"
        assert daemon.db is not None
        alert_id = daemon.db.one("SELECT id FROM alerts")["id"]  # type: ignore[index]
        assert alert_show(cfg, alert_id, as_json=False) == 0
        out = capsys.readouterr().out
        assert "receipts: 9 of 11 delivered, 2 not delivered, 0 awaiting a receipt" in out
        assert f"{invalid}" in out and "invalid destination address" in out
        status = json.dumps(daemon.status_snapshot())
        assert '"kind": "smpp"' in status
    finally:
        daemon.stop()
    # The password is never logged, not even in a PDU's hex dump.
    assert "s3cret-pass" not in caplog.text and b"s3cret-pass".hex() not in caplog.text


def test_stop_on_the_link_unsubscribes_and_cancels_queued(tmp_path: Path, smsc: TestSmsc) -> None:
    cfg = make_config(tmp_path, [smpp_channel(smsc.port, throughput=10.0, window=2)])
    phones = add_members(cfg, 20)
    leaver = phones[-1]  # queued last: still waiting when the STOP comes
    daemon = start(cfg)
    try:
        drop_alert(cfg)
        assert wait_for(lambda: len(smsc.accepted()) >= 2)
        assert smsc.mo(leaver, "Stop merci") == 0  # acknowledged on the link
        assert wait_for(lambda: alert_done(cfg), timeout=60), states(cfg)
        to_leaver = [s for s in smsc.accepted() if s.destination == leaver.lstrip("+")]
        # One SMS only: the confirmation, sent back on the link that received the STOP.
        assert len(to_leaver) == 1 and b"vous ne recevrez plus" in to_leaver[0].short_message
        assert states(cfg) == {"sent": 20, "cancelled": 1}  # 19 served + the reply; 1 left out
        assert daemon.registry.get(leaver).status == "unsubscribed"  # type: ignore[union-attr]
    finally:
        daemon.stop()


def test_a_cut_link_is_bound_again_and_in_doubt_goes_once_more(
    tmp_path: Path, smsc: TestSmsc, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_config(tmp_path, [smpp_channel(smsc.port, throughput=50.0, window=3)])
    phones = add_members(cfg, 20)
    seen = {"n": 0}

    def decide(s: Submitted) -> str | int:
        seen["n"] += 1
        if seen["n"] in (7, 8):
            return HOLD  # never answered...
        return ACCEPT

    smsc.decide = decide
    daemon = start(cfg)
    try:
        drop_alert(cfg)
        assert wait_for(lambda: seen["n"] >= 8)
        smsc.cut()  # ...and the link cut under them, mid-window
        assert wait_for(lambda: smsc.binds >= 2), "not bound again"
        assert wait_for(lambda: alert_done(cfg), timeout=40), states(cfg)
        served = Counter(smsc.messages_to())
        assert set(served) == {p.lstrip("+") for p in phones}
        # Every recipient once, except what was in doubt: at most the window's parts again.
        extra = sum(served.values()) - len(phones)
        assert 0 <= extra <= 3
        assert states(cfg) == {"sent": 20}
        assert daemon.pool.first.channel.status().facts["binds"] >= 2
        assert "in doubt" in caplog.text  # the held submits were sent again
    finally:
        daemon.stop()


def test_status_metrics_and_doctor_show_the_link(
    tmp_path: Path, smsc: TestSmsc, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = make_config(tmp_path, [smpp_channel(smsc.port, window=3, throughput=40.0)])
    daemon = start(cfg)
    try:
        daemon.publish_status()
        assert status(cfg, as_json=False, watch=False) == 0
        out = capsys.readouterr().out
        assert f"smpp smpp: bound to 127.0.0.1:{smsc.port} as modemd" in out
        assert "window 0/3 in use, 0/s of 40/s allowed, 0 receipt(s) awaited" in out
        metrics = daemon.metrics.exposition().decode()
        assert 'modemd_channel_up{channel="smpp",kind="smpp",use="primary"} 1.0' in metrics
        assert 'modemd_smpp_throughput_allowed{channel="smpp"} 40.0' in metrics
        assert 'modemd_smpp_window_in_use{channel="smpp"} 0.0' in metrics
        checks = run_doctor(cfg)
        assert [(c.name, c.result) for c in checks] == [
            ("SMS centre", "ok"),
            ("bind", "ok"),
            ("sender", "warning"),  # ALERTECOM: phones cannot answer it
        ]
        smsc.stop()  # the link drops and cannot be bound again: status says so
        assert wait_for(lambda: not daemon.pool.first.channel.ready)
        daemon.publish_status()
        status(cfg, as_json=False, watch=False)
        assert "smpp smpp: NOT bound (lost)" in capsys.readouterr().out
        failed = run_doctor(cfg)
        assert (failed[0].name, failed[0].result) == ("SMS centre", "FAILED")
        assert "cannot reach" in failed[0].detail and failed[0].advice
    finally:
        daemon.stop()


def test_an_unbind_from_the_sms_centre_is_answered_and_bound_again(
    tmp_path: Path, smsc: TestSmsc
) -> None:
    cfg = make_config(tmp_path, [smpp_channel(smsc.port)])
    phones = add_members(cfg, 3)
    daemon = start(cfg)
    try:
        smsc.unbind()
        assert wait_for(lambda: smsc.binds >= 2), "not bound again after the unbind"
        drop_alert(cfg)
        assert wait_for(lambda: alert_done(cfg)), states(cfg)
        assert sorted(smsc.messages_to()) == sorted(p.lstrip("+") for p in phones)
    finally:
        daemon.stop()


def test_ucs2_parts_carry_the_whole_text_with_a_udh(tmp_path: Path, smsc: TestSmsc) -> None:
    alerts = AlertsConfig(reply_number="38100", encoding="ucs2")
    cfg = make_config(tmp_path, [smpp_channel(smsc.port)], alerts=alerts)
    add_members(cfg, 1)
    daemon = start(cfg)
    try:
        drop_alert(cfg)
        assert wait_for(lambda: alert_done(cfg)), states(cfg)
    finally:
        daemon.stop()
    parts = smsc.accepted()
    expected = compose_alert(AlertText(MESSAGE, "vol_ruse"), alerts)
    assert len(parts) == expected.part_count > 1
    assert {p.data_coding for p in parts} == {8} and all(p.esm_class & 0x40 for p in parts)
    assert [p.concat[2] for p in parts if p.concat] == list(range(1, len(parts) + 1))
    text = "".join(p.short_message[1 + p.short_message[0] :].decode("utf-16-be") for p in parts)
    assert text == expected.text


def test_a_tls_link_checks_the_certificate_and_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("openssl is needed to make the test certificate")
        pytest.skip("openssl is needed to make the test certificate")
    cert, key = tmp_path / "smsc.pem", tmp_path / "smsc.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with TestSmsc(tls=context) as smsc:
        cfg = make_config(tmp_path, [smpp_channel(smsc.port, tls=True)])
        phones = add_members(cfg, 2)
        # Not trusted: the link is refused, nothing is sent.
        untrusted = start_daemon(cfg)
        try:
            channel = untrusted.pool.first.channel
            assert wait_for(lambda: "certificate" in channel.status().detail.lower())
            assert not channel.ready and smsc.binds == 0
        finally:
            untrusted.stop()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the SMS centre's CA, trusted
        daemon = start(cfg)
        try:
            drop_alert(cfg)
            assert wait_for(lambda: alert_done(cfg)), states(cfg)
            assert sorted(smsc.messages_to()) == sorted(p.lstrip("+") for p in phones)
        finally:
            daemon.stop()


def test_receipts_in_tlvs_with_decimal_ids_and_a_long_sms_from_a_phone(
    tmp_path: Path, smsc: TestSmsc
) -> None:
    cfg = make_config(tmp_path, [smpp_channel(smsc.port)])
    phones = add_members(cfg, 4)
    smsc.receipt_tlvs = True  # no text: receipted_message_id (in decimal) and message_state
    smsc.receipt = lambda s: "UNDELIV" if s.destination == phones[0].lstrip("+") else "DELIVRD"
    daemon = start(cfg)
    try:
        drop_alert(cfg)
        assert wait_for(lambda: alert_done(cfg)), states(cfg)
        assert daemon.db is not None

        def reports() -> list[str]:
            assert daemon.db is not None
            rows = daemon.db.query("SELECT report FROM deliveries ORDER BY id")
            return [str(r["report"]) for r in rows]

        want = ["failed", "delivered", "delivered", "delivered"]
        assert wait_for(lambda: reports() == want), reports()
        # A join request in three parts, joined before it is read.
        shop = "+33655501234"
        details = "ADHESION Boulangerie du Marche, 4 place de la Halle, Montech, tel fixe 0563"
        assert smsc.mo(shop, details, parts=3) == 0
        assert wait_for(lambda: daemon.registry.get(shop) is not None)
        member = daemon.registry.get(shop)
        assert member is not None and member.status == "pending"
        assert "Boulangerie du Marche" in (member.name + member.commune + str(member))
    finally:
        daemon.stop()
