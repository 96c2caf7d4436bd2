"""Prometheus metrics for the daemon, built from a snapshot at each collection.

The daemon keeps plain counters in its own state and hands over a snapshot function: nothing in
the send path touches a metric object, and a scrape or a textfile write costs one snapshot call.
The snapshot is produced by another part of the code and may lag behind this module, so every
key is optional and a value of the wrong type is skipped rather than allowed to break a scrape.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    generate_latest,
    start_http_server,
    write_to_textfile,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

Snapshot = Callable[[], dict[str, Any]]

RSSI_MAX = 31  # 27.007 AT+CSQ: 0..31 is a reading, 99 means "not known"


def _section(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, Mapping) else {}


def _number(value: object) -> float | None:
    # bool is an int subclass: a True where a count belongs is a producer bug, not the value 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _counter(name: str, doc: str, section: Mapping[str, Any], key: str) -> Metric:
    # CounterMetricFamily adds the "_total" suffix itself, so names are given without it.
    family = CounterMetricFamily(name, doc)
    value = _number(section.get(key))
    if value is not None:
        family.add_metric([], value)
    return family


def _gauge(name: str, doc: str, value: float | None) -> Metric:
    family = GaugeMetricFamily(name, doc)
    if value is not None:
        family.add_metric([], value)
    return family


def _modem_families(modem: Mapping[str, Any]) -> Iterator[Metric]:
    state = modem.get("state")
    if isinstance(state, str):
        yield _gauge(
            "modemd_modem_up", "1 when the modem is ready to send.", float(state == "ready")
        )
        # Enum style: one series whose label carries the state, so dashboards can show it.
        family = GaugeMetricFamily("modemd_modem_state", "Current modem state.", labels=["state"])
        family.add_metric([state], 1)
        yield family
    rssi = _number(modem.get("signal_rssi"))
    if rssi is not None and not 0 <= rssi <= RSSI_MAX:
        rssi = None  # 99 and anything else outside the scale is "unknown", not a level
    yield _gauge("modemd_signal_rssi", "Signal quality, AT+CSQ scale 0..31.", rssi)
    yield _gauge("modemd_signal_dbm", "Signal strength in dBm.", _number(modem.get("signal_dbm")))
    registered = modem.get("registered")
    yield _gauge(
        "modemd_network_registered",
        "1 when the modem is registered on a network.",
        float(registered) if isinstance(registered, bool) else None,
    )


def _channel_families(channels: list[Any]) -> Iterator[Metric]:
    """Each channel of the pool, labelled by name, kind and use; an SMPP link's window,
    pace and receipts besides."""
    labels = ["channel", "kind", "use"]
    up = GaugeMetricFamily("modemd_channel_up", "1 when the channel can send.", labels=labels)
    sent = CounterMetricFamily(
        "modemd_channel_parts_sent", "SMS parts sent since start, by channel.", labels=labels
    )
    window = GaugeMetricFamily(
        "modemd_smpp_window_in_use", "Submits awaiting their answer.", labels=["channel"]
    )
    rate = GaugeMetricFamily(
        "modemd_smpp_submits_last_second", "Submits in the last second.", labels=["channel"]
    )
    allowed = GaugeMetricFamily(
        "modemd_smpp_throughput_allowed", "Submits a second allowed.", labels=["channel"]
    )
    pending = GaugeMetricFamily(
        "modemd_smpp_receipts_pending", "Accepted submits awaiting a receipt.", labels=["channel"]
    )
    for entry in channels:
        if not isinstance(entry, Mapping):
            continue
        modem = _section(entry, "modem")
        key = [str(entry.get("name")), str(modem.get("kind")), str(entry.get("use", "primary"))]
        up.add_metric(key, float(modem.get("state") == "ready"))
        parts = _number(_section(entry, "dispatcher").get("sent_parts"))
        if parts is not None:
            sent.add_metric(key, parts)
        facts = _section(entry, "facts")
        for family, fact in (
            (window, "window_in_use"),
            (rate, "submits_last_second"),
            (allowed, "throughput"),
            (pending, "receipts_pending"),
        ):
            value = _number(facts.get(fact))
            if value is not None:
                family.add_metric([key[0]], value)
    yield from (up, sent, window, rate, allowed, pending)


def _throttle_families(windows: object, blocked: Mapping[str, Any]) -> Iterator[Metric]:
    used = GaugeMetricFamily(
        "modemd_throttle_used", "SMS parts used in the throttle window.", labels=["window"]
    )
    cap = GaugeMetricFamily(
        "modemd_throttle_cap", "SMS parts allowed in the throttle window.", labels=["window"]
    )
    blocked_by = blocked.get("window")
    # Every known window gets a 0 so "== 1" alert rules and graphs have a continuous series.
    flags: dict[str, int] = {}
    for window in windows if isinstance(windows, list) else []:
        if not isinstance(window, Mapping) or not isinstance(window.get("name"), str):
            continue
        name = window["name"]
        flags[name] = 0
        for family, key in ((used, "used"), (cap, "cap")):
            value = _number(window.get(key))
            if value is not None:
                family.add_metric([name], value)
    if isinstance(blocked_by, str):
        flags[blocked_by] = 1
    block = GaugeMetricFamily(
        "modemd_throttle_blocked",
        "1 for the window that currently blocks sending.",
        labels=["window"],
    )
    for name, flag in flags.items():
        block.add_metric([name], flag)
    yield from (used, cap, block)


class _SnapshotCollector:
    """Turns one snapshot into metric families; families without samples are left out."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        # An exception from snapshot() propagates on purpose: the scrape fails (HTTP 500) and
        # Prometheus marks the target down, which is more honest than a page with no data.
        for family in self._families(self._snapshot()):
            if family.samples:
                yield family

    def _families(self, snap: Mapping[str, Any]) -> Iterator[Metric]:
        dispatcher = _section(snap, "dispatcher")
        queue = _section(snap, "queue")
        yield _counter("modemd_parts_sent", "SMS parts sent since start.", dispatcher, "sent_parts")
        yield _counter(
            "modemd_parts_failed", "SMS parts that failed since start.", dispatcher, "failed_parts"
        )
        yield _gauge(
            "modemd_queue_unsent", "Recipients not yet served.", _number(queue.get("unsent"))
        )
        yield _gauge(
            "modemd_alerts_active", "Alerts being sent.", _number(queue.get("alerts_active"))
        )
        yield from _modem_families(_section(snap, "modem"))
        yield from _throttle_families(snap.get("throttle"), _section(dispatcher, "blocked"))
        channels = snap.get("modems")
        if isinstance(channels, list):
            yield from _channel_families(channels)

        inbound = CounterMetricFamily(
            "modemd_inbound", "Inbound SMS since start, by kind.", labels=["kind"]
        )
        for kind, count in _section(snap, "inbound").items():
            value = _number(count)
            if value is not None:
                inbound.add_metric([str(kind)], value)
        yield inbound

        notices = snap.get("notices")
        yield _gauge(
            "modemd_problems_open",
            "Problems currently open (notices).",
            len(notices) if isinstance(notices, list) else None,
        )
        yield _gauge(
            "modemd_start_time_seconds",
            "Daemon start time, Unix seconds.",
            _number(snap.get("started_at")),
        )


def parse_address(address: str) -> tuple[str, int]:
    """Split "host:port", "[v6]:port" or ":port" (all IPv4 interfaces, as exporters do)."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"metrics address {address!r}: expected host:port, e.g. 127.0.0.1:9177")
    port = int(port_text)
    # Port 0 would bind a random port nobody knows to scrape.
    if not 1 <= port <= 65535:
        raise ValueError(f"metrics address {address!r}: port must be 1..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"metrics address {address!r}: bad IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"metrics address {address!r}: put IPv6 addresses in brackets, [::1]:9177")
    return host or "0.0.0.0", port


class Metrics:
    """Exposes the daemon's snapshot over HTTP and/or as a node_exporter textfile."""

    def __init__(self, snapshot: Snapshot) -> None:
        # Own registry: the global one would add process/GC metrics and clash between instances.
        self.registry = CollectorRegistry()
        self.registry.register(_SnapshotCollector(snapshot))
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def exposition(self) -> bytes:
        """The current metrics in Prometheus text format."""
        return generate_latest(self.registry)

    def serve(self, address: str) -> None:
        """Serve /metrics on address in a background thread until stop()."""
        if self._server is not None:
            raise RuntimeError("metrics server already running")
        host, port = parse_address(address)
        try:
            self._server, self._thread = start_http_server(port, host, registry=self.registry)
        except socket.gaierror as exc:  # an unresolvable name is a config error, not an outage
            raise ValueError(f"metrics address {address!r}: cannot resolve {host!r}") from exc

    def write_textfile(self, path: Path) -> None:
        """Write the metrics for node_exporter's textfile collector (temp file + rename)."""
        write_to_textfile(str(path), self.registry)

    def stop(self) -> None:
        """Stop the HTTP server, if any, and free its port. Safe to call more than once."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
