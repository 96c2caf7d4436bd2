"""What the operator reads: alert progress, per-recipient detail, the status screen."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from modemd.operations.queries import PRIORITY_NAMES, Progress, alert_detail, progress

# Moved to the operations; still importable from here for the faces that read them.
__all__ = ["PRIORITY_NAMES", "Progress", "alert_detail", "progress"]

DEFAULT_PART_SECONDS = 2.5  # a real USB modem, when nothing has been measured yet


def bar(done: int, total: int, width: int = 24) -> str:
    filled = width * done // total if total else width
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def clock(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def eta_text(seconds: float) -> str:
    """An ETA never says 0 s while something is left: it rounds up, to the second."""
    return duration(max(1.0, math.ceil(seconds)))


def window_line(usage: dict[str, Any]) -> str:
    unit = "recipients" if usage["name"].startswith("distinct") else "parts"
    span = WINDOW_SPANS.get(usage["name"], "")
    return f"          {usage['name']:<30} {usage['used']:>5} / {usage['cap']} {unit} {span}"


WINDOW_SPANS = {
    "per_minute": "in any minute",
    "per_hour": "in any hour",
    "per_day": "in any 24 h",
    "distinct_recipients_per_day": "in any 24 h",
    "distinct_recipients_per_month": "in any 31 days",
}


def _network_line(m: dict[str, Any]) -> str:
    if m["state"] != "ready" or m["registration"] in (None, "unknown"):
        why = "the modem is not ready" if m["state"] != "ready" else "not reported yet"
        return f"network:  unknown ({why})"
    dbm = f", {m['signal_dbm']} dBm" if m["signal_dbm"] is not None else ""
    return (
        f"network:  {m['registration']}, operator {m['operator'] or 'unknown'}, signal "
        f"{m['signal_quality']}{dbm}"
    )


def _smpp_lines(entry: dict[str, Any]) -> list[str]:
    """An SMPP link: bound or not, its window in use, its pace against the contract's, the
    receipts still awaited."""
    m, d, f = entry["modem"], entry["dispatcher"], entry["facts"]
    use = f", use {entry['use']}" if entry.get("use", "primary") != "primary" else ""
    bound = "bound" if m["state"] == "ready" else f"NOT bound ({m['state']})"
    lines = [f"smpp {entry['name']}: {bound} to {m['port']} as {f['system_id']}{use}"]
    if m["detail"] and m["state"] != "ready":
        lines.append(f"          {m['detail']}")
    lines.append(
        f"link:     window {f['window_in_use']}/{f['window']} in use, "
        f"{f['submits_last_second']}/s of {f['throughput']:g}/s allowed, "
        f"{f['receipts_pending']} receipt(s) awaited"
    )
    if d["current"]:
        lines.append(f"sending:  {d['current']}")
    return lines


def _modem_lines(entry: dict[str, Any], pool: bool) -> list[str]:
    if entry.get("facts") and entry["modem"].get("kind") == "smpp":
        return _smpp_lines(entry)
    m, d = entry["modem"], entry["dispatcher"]
    label = f"modem {entry['name']}:" if pool else "modem:   "
    role = f", role {entry['role']}" if pool and entry["role"] != "both" else ""
    if entry.get("use", "primary") != "primary":
        role += f", use {entry['use']}"
    lines = [
        f"{label} {m['state']} on {m['port']} - {m['manufacturer']} {m['model']}"
        f" ({m['profile'] or 'profile pending'}{role})"
    ]
    if m["detail"] and m["state"] != "ready":
        lines.append(f"          {m['detail']}")
    lines.append(_network_line(m))
    if d["blocked"]:
        lines.append(
            f"throttle: BLOCKED by {d['blocked']['window']} until "
            f"{clock(d['blocked']['reopens_at'])}"
        )
    lines += [window_line(usage) for usage in entry["throttle"]]
    if not entry["throttle"]:
        lines.append("throttle: no SIM limits configured")
    if d["current"] and not d["blocked"]:
        lines.append(f"sending:  {d['current']}")
    return lines


def render_status(
    snapshot: dict[str, Any] | None,
    alerts: list[Progress],
    eta: dict[str, float | None],
    *,
    running_pid: int | None = None,
    windows: Sequence[tuple[str, list[dict[str, Any]]]] = (),
    last_seen: float | None = None,
) -> str:
    """``snapshot`` is the running daemon's fresh one, or None: then only what the database
    holds (the queue, the windows rebuilt from the send log) is shown, as nothing else is
    known now. ``running_pid`` is the daemon holding the state folder (0: PID unreadable)."""
    lines: list[str] = []
    if snapshot is None:
        seen = f" (last status {clock(last_seen)})" if last_seen else ""
        if running_pid is not None:
            lines.append(
                f"daemon:   running (pid {running_pid or 'unknown'}) but with no fresh status"
                f"{seen}, starting or stuck (see its log); modem and network unknown"
            )
        else:
            lines.append(
                f"daemon:   not running{seen}; modem and network unknown, nothing is being sent"
            )
        for name, usage in windows:
            if usage:
                which = f" of {name}" if len(windows) > 1 else ""
                lines.append(f"throttle: SIM windows{which}, from the send log")
                lines += [window_line(u) for u in usage]
    else:
        lines.append(
            f"daemon:   running, pid {snapshot['pid']}, up since {clock(snapshot['started_at'])}"
        )
        modems = snapshot.get("modems") or [
            {
                "name": "modem",
                "role": "both",
                "modem": snapshot["modem"],
                "dispatcher": snapshot["dispatcher"],
                "throttle": snapshot["throttle"],
            }
        ]
        for entry in modems:
            lines += _modem_lines(entry, len(modems) > 1)
        for notice in snapshot.get("notices", []):
            told = "operators told" if notice["notified"] else "not yet told"
            lines.append(f"PROBLEM:  since {clock(notice['since'])}: {notice['text']} ({told})")
        for err in snapshot["dispatcher"]["errors"][-5:]:
            lines.append(f"error:    {clock(err['at'])} {err['error']}")
    if not alerts:
        lines.append("alerts:   none in progress")
    for a in alerts:
        lines.append(_alert_line(a, eta.get(a.alert_id), running=running_pid is not None))
    return "\n".join(lines)


def _alert_line(a: Progress, eta: float | None, *, running: bool) -> str:
    """Recipients only, so the bar and the numbers beside it agree (windows count parts)."""
    done = a.sent + a.failed + a.cancelled
    delivered = f", {a.delivered} delivered" if a.delivered else ""
    if a.state != "active" or not a.unsent:
        when = ""
    elif not running:
        when = ", waiting for the daemon"
    elif eta is None:
        when = ", ETA unknown (no modem can send now)"
    else:
        when = f", ETA {eta_text(eta)}"
    return (
        f"alert {a.alert_id} [{a.priority}, {a.state}] {bar(done, a.total)} "
        f"{a.sent} of {a.total} sent{delivered}, {a.failed} failed, {a.cancelled} cancelled, "
        f"{a.unsent} left{when}"
    )
