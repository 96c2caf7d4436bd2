"""``modemd doctor``: check the chain from port to network and say what to do about each problem.

It runs the same bring-up as the daemon, read-only (stored SMS are left for the daemon), and
turns the first failure into advice. Checks after a failure are reported as not reached.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modemd.config import ChannelConfig, Config, ModemConfig
from modemd.modem.device import Modem
from modemd.modem.errors import (
    CmeError,
    CmsError,
    CommandFailed,
    CommandTimeout,
    ModemError,
    ModemUnresponsive,
    PortUnavailable,
    SimError,
)
from modemd.modem.info import ModemStatus

OK, WARN, FAIL, SKIP = "ok", "warning", "FAILED", "not checked"


@dataclass(frozen=True)
class Check:
    name: str
    result: str
    detail: str
    advice: str = ""


CHECKS = ("port", "modem", "SIM", "signal", "registration", "SMS centre", "storage")


def run_doctor(config: Config) -> list[Check]:
    """Every channel of the configuration, one after the other (a pool: names in front)."""
    modems = config.pool()
    results: list[Check] = []
    for mc in modems:
        if isinstance(mc, ChannelConfig) and mc.kind == "smpp":
            from modemd.cli.doctor_smpp import check_smpp

            checks = check_smpp(mc)
        else:
            checks = _check_modem(mc, config.state_dir / f"pin-rejected-{mc.name}")
        if len(modems) > 1:
            checks = [Check(f"{mc.name} {c.name}", c.result, c.detail, c.advice) for c in checks]
        results += checks
    return results


def _check_modem(config: ModemConfig, pin_guard: Path) -> list[Check]:
    port = config.port
    results: list[Check] = []
    # The daemon's record of a rejected PIN is honoured (when readable): doctor must not
    # burn an attempt either.
    guard = (
        pin_guard if pin_guard.parent.is_dir() and os.access(pin_guard.parent, os.W_OK) else None
    )
    modem = Modem(config, on_sms=lambda message: None, receive=False, pin_guard=guard)
    try:
        modem.start(wait=True)
    except ModemError as exc:
        return _failure(exc, port)
    try:
        st = modem.status
        results.append(Check("port", OK, f"{port} opened"))
        results.append(
            Check(
                "modem",
                OK,
                f"{st.manufacturer} {st.model} (firmware {st.revision}), profile {st.profile}",
            )
        )
        results.append(Check("SIM", OK, f"unlocked, IMSI {st.imsi or 'unknown'}"))
        results.append(_signal(st))
        results.append(_registration(st))
        results.append(_smsc(st))
        results.append(_storage(modem, st))
    finally:
        modem.stop()
    return results


def _failure(exc: ModemError, port: str) -> list[Check]:
    index, check = _diagnose(exc, port)
    passed = [Check(name, OK, "") for name in CHECKS[:index]]
    skipped = [Check(name, SKIP, "") for name in CHECKS[index + 1 :]]
    return [*passed, check, *skipped]


def _diagnose(exc: ModemError, port: str) -> tuple[int, Check]:
    if isinstance(exc, PortUnavailable):
        advice = "plug the modem in and check modem.port"
        if "://" not in port and not os.path.exists(port):
            advice = (
                f"{port} does not exist: plug the modem in, check modem.port (ls "
                "/dev/serial/by-id/), and use a udev rule for a stable name"
            )
        elif "permission" in str(exc):
            advice = "add the user running modemd to the 'dialout' group"
        elif "busy" in str(exc):
            advice = (
                "another program holds the port: stop modemd (systemctl stop modemd) or "
                "tell ModemManager to ignore the modem"
            )
        return 0, Check("port", FAIL, str(exc), advice)
    if isinstance(exc, ModemUnresponsive | CommandTimeout):
        return 1, Check(
            "modem",
            FAIL,
            str(exc),
            "the port opens but nothing answers AT: try another ttyUSB interface of the modem, "
            "check the baud rate, or unplug and replug it (a HiLink firmware speaks no AT)",
        )
    if isinstance(exc, SimError):
        return 2, Check("SIM", FAIL, str(exc), _sim_advice(str(exc)))
    if isinstance(exc, CmsError | CmeError | CommandFailed):
        return 1, Check(
            "modem",
            FAIL,
            str(exc),
            "the modem refused a set-up command; run with "
            "--log-level DEBUG to see which, and check its profile (modem.profile)",
        )
    return 1, Check("modem", FAIL, str(exc), "see the log for details")


def _sim_advice(message: str) -> str:
    if "PUK" in message:
        return "put the SIM in a phone, enter the PUK from the operator, set a new PIN"
    if "rejected" in message:
        return "fix modem.pin; after 3 wrong PINs the SIM needs its PUK"
    if "asks for a PIN" in message:
        return "set modem.pin, or disable the PIN in a phone"
    return "check the SIM card is inserted the right way and is active"


def _signal(st: ModemStatus) -> Check:
    sig = st.signal
    if not sig.known:
        return Check("signal", FAIL, "no signal", "check the antenna and the operator's coverage")
    detail = f"{sig.quality}, {sig.dbm} dBm (CSQ {sig.rssi})"
    if sig.rssi < 10:
        return Check("signal", WARN, detail, "move the modem or use a USB extension cable")
    return Check("signal", OK, detail)


def _registration(st: ModemStatus) -> Check:
    text = st.registration_text
    if st.registered:
        return Check("registration", OK, f"{text}, operator {st.operator or 'unknown'}")
    return Check(
        "registration",
        FAIL,
        text,
        "check the SIM's plan is active and the area has 4G coverage (2G is being switched off)",
    )


def _smsc(st: ModemStatus) -> Check:
    if st.smsc:
        return Check("SMS centre", OK, st.smsc)
    return Check(
        "SMS centre",
        FAIL,
        "the SIM has no SMS centre number",
        "set modem.smsc to your operator's SMS centre (e.g. Orange +33689004000)",
    )


def _storage(modem: Modem, st: ModemStatus) -> Check:
    lines = modem.command("AT+CPMS?")
    used = _usage(lines)
    offered = ", ".join(st.storages) or "unknown"
    if used is not None and used[0] >= used[1] > 0:
        return Check(
            "storage",
            WARN,
            f"{st.storage} full ({used[0]}/{used[1]})",
            "start modemd so it reads and clears stored messages",
        )
    fill = f", {used[0]}/{used[1]} used" if used else ""
    return Check(
        "storage",
        OK,
        f"reading {st.storage} (offered {offered}){fill}, "
        f"{'with' if st.status_reports else 'without'} delivery reports",
    )


def _usage(lines: list[str]) -> tuple[int, int] | None:
    for line in lines:
        if line.startswith("+CPMS:"):
            fields = [f.strip().strip('"') for f in line.split(":", 1)[1].split(",")]
            if len(fields) >= 3 and fields[1].isdigit() and fields[2].isdigit():
                return int(fields[1]), int(fields[2])
    return None


def format_report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        line = f"{c.name:<{width}}  {c.result:<11}  {c.detail}".rstrip()
        lines.append(line)
        if c.advice:
            lines.append(f"{'':<{width}}  {'':<11}  -> {c.advice}")
    return "\n".join(lines)


def healthy(checks: list[Check]) -> bool:
    return all(c.result in (OK, WARN) for c in checks)


__all__ = ["Check", "format_report", "healthy", "run_doctor"]
