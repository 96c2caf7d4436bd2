"""Metrics: what a scrape, a textfile and the HTTP endpoint show for a given snapshot."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modemd.service.metrics import Metrics, parse_address

FULL: dict[str, Any] = {
    "modem": {
        "state": "ready",
        "signal_rssi": 20,
        "signal_dbm": -73,
        "registered": True,
        "operator": "Orange F",
    },
    "dispatcher": {
        "sent_parts": 123,
        "failed_parts": 4,
        "blocked": {"window": "per_minute", "reopens_at": 1795940000.0},
    },
    "throttle": [
        {"name": "per_minute", "used": 5, "cap": 6},
        {"name": "per_day", "used": 40, "cap": 500},
    ],
    "queue": {"unsent": 42, "alerts_active": 1},
    "inbound": {"stop": 3, "join": 1, "help": 0, "other": 7},
    "notices": [{"key": "modem_gone", "since": 1795940000.0, "notified": True}],
    "started_at": 1795930000.0,
}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Parsed exposition as {(sample name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(snapshot: dict[str, Any]) -> Samples:
    return samples(Metrics(lambda: snapshot).exposition().decode())


def test_full_snapshot() -> None:
    got = scrape(FULL)
    assert got == {
        ("modemd_parts_sent_total", ()): 123,
        ("modemd_parts_failed_total", ()): 4,
        ("modemd_queue_unsent", ()): 42,
        ("modemd_alerts_active", ()): 1,
        ("modemd_modem_up", ()): 1,
        ("modemd_modem_state", (("state", "ready"),)): 1,
        ("modemd_signal_rssi", ()): 20,
        ("modemd_signal_dbm", ()): -73,
        ("modemd_network_registered", ()): 1,
        ("modemd_throttle_used", (("window", "per_minute"),)): 5,
        ("modemd_throttle_used", (("window", "per_day"),)): 40,
        ("modemd_throttle_cap", (("window", "per_minute"),)): 6,
        ("modemd_throttle_cap", (("window", "per_day"),)): 500,
        ("modemd_throttle_blocked", (("window", "per_minute"),)): 1,
        ("modemd_throttle_blocked", (("window", "per_day"),)): 0,
        ("modemd_inbound_total", (("kind", "stop"),)): 3,
        ("modemd_inbound_total", (("kind", "join"),)): 1,
        ("modemd_inbound_total", (("kind", "help"),)): 0,
        ("modemd_inbound_total", (("kind", "other"),)): 7,
        ("modemd_problems_open", ()): 1,
        ("modemd_start_time_seconds", ()): 1795930000.0,
    }


def test_types_and_help_are_declared() -> None:
    text = Metrics(lambda: FULL).exposition().decode()
    assert "# TYPE modemd_parts_sent_total counter" in text
    assert "# TYPE modemd_queue_unsent gauge" in text
    assert "# HELP modemd_modem_up 1 when the modem is ready to send." in text


def test_snapshot_is_taken_at_each_collection() -> None:
    state = {"dispatcher": {"sent_parts": 1}}
    metrics = Metrics(lambda: state)
    assert samples(metrics.exposition().decode()) == {("modemd_parts_sent_total", ()): 1}
    state["dispatcher"]["sent_parts"] = 2
    assert samples(metrics.exposition().decode()) == {("modemd_parts_sent_total", ()): 2}


def test_empty_snapshot_exposes_nothing() -> None:
    assert Metrics(dict).exposition() == b""


def test_partial_and_odd_values_are_skipped() -> None:
    got = scrape(
        {
            "modem": {"state": "lost", "signal_rssi": 99, "signal_dbm": None, "registered": None},
            "dispatcher": {"sent_parts": True, "failed_parts": "4", "blocked": None},
            "throttle": [{"name": "per_minute"}, {"used": 1}, "junk"],
            "queue": None,
            "inbound": {"stop": None, "other": 2},
            "notices": [],
            "started_at": None,
        }
    )
    assert got == {
        ("modemd_modem_up", ()): 0,
        ("modemd_modem_state", (("state", "lost"),)): 1,
        ("modemd_throttle_blocked", (("window", "per_minute"),)): 0,
        ("modemd_inbound_total", (("kind", "other"),)): 2,
        ("modemd_problems_open", ()): 0,
    }


def test_write_textfile(tmp_path: Path) -> None:
    path = tmp_path / "modemd.prom"
    Metrics(lambda: FULL).write_textfile(path)
    got = samples(path.read_text())
    assert got[("modemd_parts_sent_total", ())] == 123
    assert got[("modemd_throttle_blocked", (("window", "per_minute"),))] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["modemd.prom"]  # no temp file left behind


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_and_stop() -> None:
    port = free_port()
    metrics = Metrics(lambda: FULL)
    metrics.serve(f"127.0.0.1:{port}")
    try:
        with pytest.raises(RuntimeError):
            metrics.serve(f"127.0.0.1:{port}")
        # No proxy: a developer's http_proxy must not intercept a loopback request.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            body = response.read().decode()
    finally:
        metrics.stop()
    assert samples(body)[("modemd_queue_unsent", ())] == 42
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))
    metrics.stop()  # a second stop is harmless


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:9177", ("127.0.0.1", 9177)),
        ("[::1]:9177", ("::1", 9177)),
        ("localhost:9177", ("localhost", 9177)),
        (":9177", ("0.0.0.0", 9177)),
    ],
)
def test_parse_address(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "9177",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:http",
        "127.0.0.1:0",
        "127.0.0.1:70000",
        "::1:9177",
        "[nope]:9177",
        "[::1]:-1",
    ],
)
def test_bad_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="metrics address"):
        Metrics(dict).serve(address)


def test_unresolvable_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake resolver failure: tests stay off the network and do not depend on local DNS.
    def fail(*_args: object, **_kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(ValueError, match="cannot resolve"):
        Metrics(dict).serve("no-such-host.invalid:9177")
