"""What the simulated modem answers to each AT command: one small handler per command.

Handlers return the info lines of the answer (``OK`` is added by the caller), ``None`` when the
answer comes later (``AT+CMGS`` prompt), or raise SimCommandError for an error final result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modemd.sim.modem import SimulatedModem


class SimCommandError(Exception):
    """An error final result: kind is "cms", "cme" or "plain"."""

    def __init__(self, kind: str, code: int = 0) -> None:
        super().__init__(kind, code)
        self.kind, self.code = kind, code


# Verbose texts for AT+CMEE=2, the few this simulator ever reports.
VERBOSE = {
    ("cme", 10): "SIM not inserted",
    ("cme", 11): "SIM PIN required",
    ("cme", 12): "SIM PUK required",
    ("cme", 16): "incorrect password",
    ("cms", 302): "operation not allowed",
    ("cms", 304): "invalid PDU mode parameter",
    ("cms", 311): "SIM PIN required",
    ("cms", 316): "SIM PUK required",
    ("cms", 321): "invalid memory index",
    ("cms", 322): "memory full",
    ("cms", 330): "SMSC address unknown",
    ("cms", 331): "no network service",
}

# Commands refused until the SIM is unlocked, and those among them that report +CMS errors.
SIM_GATED = frozenset(
    {
        "+CMGS",
        "+CMGR",
        "+CMGL",
        "+CMGD",
        "+CPMS",
        "+CSCA",
        "+CIMI",
        "+COPS",
        "+CNMI",
        "+CMGF",
    }
)
CMS_COMMANDS = frozenset({"+CMGS", "+CMGR", "+CMGL", "+CMGD", "+CPMS", "+CSCA", "+CNMI", "+CMGF"})


def tpdu_octets(pdu_hex: str) -> int:
    """The length AT+CMGS/+CMGR quote: the PDU's octets after the SMSC field."""
    return len(pdu_hex) // 2 - int(pdu_hex[:2], 16) - 1


def parse_command(line: str) -> tuple[str, str, str]:
    """``AT+CPMS="SM"`` -> ("+CPMS", "set", '"SM"'); kinds: exec, set, read, test."""
    body = line[2:]
    if not body:
        return "", "exec", ""
    if body[0] not in "+^$*#%":
        return body[0].upper(), "set", body[1:]
    for i, ch in enumerate(body):
        if ch == "=":
            rest = body[i + 1 :]
            return body[:i].upper(), ("test" if rest == "?" else "set"), rest
        if ch == "?":
            return body[:i].upper(), "read", ""
    return body.upper(), "exec", ""


def _args(arg: str) -> list[str]:
    return [part.strip().strip('"') for part in arg.split(",")] if arg else []


def _int(value: str, kind: str = "plain", code: int = 0) -> int:
    try:
        return int(value)
    except ValueError:
        raise SimCommandError(kind, code) from None


Handler = Callable[["SimulatedModem", str, str], "list[str] | None"]


def _at(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    return []


def _echo(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    m.echo = arg.strip() == "1"
    return []


def _reset(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    m.echo = m.profile.echo_default
    m.cmee = 0
    return []


def _identity(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    return [m.profile.manufacturer, m.profile.model, f"Revision: {m.profile.revision}"]


def _value(attr: str) -> Handler:
    def handler(m: SimulatedModem, kind: str, arg: str) -> list[str]:
        return [str(getattr(m.profile, attr))]

    return handler


def _cmee(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    if kind == "read":
        return [f"+CMEE: {m.cmee}"]
    if kind == "test":
        return ["+CMEE: (0-2)"]
    m.cmee = _int(arg)
    return []


def _cpin(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    if kind == "read":
        return [f"+CPIN: {m.pin_state}"]
    args = _args(arg)
    if m.pin_state == "READY":
        raise SimCommandError("cme", 3)
    if m.pin_state == "SIM PIN" and len(args) == 1:
        if args[0] == m.pin:
            m.pin_state = "READY"
            m.pin_attempts = 3
            return []
        m.pin_attempts -= 1
        if m.pin_attempts <= 0:
            m.pin_state = "SIM PUK"
        raise SimCommandError("cme", 16)
    if len(args) == 2 and args[0] == m.puk:
        m.pin, m.pin_state, m.pin_attempts = args[1], "READY", 3
        return []
    m.puk_attempts -= 1
    raise SimCommandError("cme", 16)


def _cmgf(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    if kind == "read":
        return ["+CMGF: 0"]
    if kind == "test":
        return ["+CMGF: (0-1)"]
    if arg.strip() != "0":
        raise SimCommandError("cms", 303)  # text mode is not what this modem is for
    return []


def _csca(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    if kind == "read":
        return [f'+CSCA: "{m.smsc}",145' if m.smsc else '+CSCA: "",129']
    number = _args(arg)[0] if arg else ""
    if not number:
        raise SimCommandError("cms", 304)
    m.smsc = number
    return []


def _cpms(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    def used(mem: str) -> str:
        return f"{len(m.storage.get(mem, {}))},{m.profile.capacity}"

    if kind == "test":
        mems = ",".join(f'"{mem}"' for mem in m.profile.storages)
        return [f"+CPMS: ({mems}),({mems}),({mems})"]
    if kind == "read":
        return ["+CPMS: " + ",".join(f'"{mem}",{used(mem)}' for mem in m.cpms)]
    wanted = _args(arg)
    if not wanted or any(mem not in m.profile.storages for mem in wanted):
        raise SimCommandError("cms", 302)
    for i, mem in enumerate(wanted[:3]):
        m.cpms[i] = mem
    return ["+CPMS: " + ",".join(used(mem) for mem in m.cpms)]


def _cnmi(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    if kind == "read":
        return ["+CNMI: " + ",".join(str(v) for v in m.cnmi)]
    if kind == "test":
        return ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"]
    values = [_int(v, "cms", 303) for v in _args(arg)]
    if not values or len(values) > 5:
        raise SimCommandError("cms", 303)
    m.cnmi = ([*values, 0, 0, 0, 0, 0])[:5]
    return []


def _csms(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    return ["+CSMS: 0,1,1,1"]


def _csq(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    return [f"+CSQ: {m.signal if m.network else 99},99"]


def _registration(name: str) -> Handler:
    def handler(m: SimulatedModem, kind: str, arg: str) -> list[str]:
        if kind == "set":
            m.reg_urc = _int(arg)
            return []
        if kind == "test":
            return [f"{name}: (0-2)"]
        stat = 1 if m.network else 2  # 2 = searching
        return [f"{name}: {m.reg_urc},{stat}"]

    return handler


def _cops(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    if kind != "read":
        return []
    return [f'+COPS: 0,0,"{m.profile.operator}",7'] if m.network else ["+COPS: 0"]


def _cfun(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    if kind == "read":
        return ["+CFUN: 1"]
    args = _args(arg)
    if len(args) > 1 and args[1] == "1":
        # Reset: answer OK first, then reboot as a real module does.
        m.schedule(0.05, m.reboot)
    return []


def _cmgs(m: SimulatedModem, kind: str, arg: str) -> list[str] | None:
    length = _int(arg, "cms", 304)
    if not 7 <= length <= 176:
        raise SimCommandError("cms", 304)
    m.start_prompt(length)
    return None


def _cmgr(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    index = _int(arg.strip(), "cms", 321)
    stored = m.storage.get(m.cpms[0], {}).get(index)
    if stored is None:
        raise SimCommandError("cms", 321)
    stat = stored.stat
    stored.stat = 1 if stat == 0 else stat
    return [f"+CMGR: {stat},,{tpdu_octets(stored.pdu)}", stored.pdu]


def _cmgl(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    if kind == "test":
        return ["+CMGL: (0-4)"]
    wanted = _int(arg.strip() or "0", "cms", 302)
    lines: list[str] = []
    for index, stored in sorted(m.storage.get(m.cpms[0], {}).items()):
        if wanted in (4, stored.stat):
            lines += [f"+CMGL: {index},{stored.stat},,{tpdu_octets(stored.pdu)}", stored.pdu]
            stored.stat = 1 if stored.stat == 0 else stored.stat
    return lines


def _cmgd(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    args = _args(arg)
    box = m.storage.get(m.cpms[0], {})
    if len(args) > 1 and _int(args[1], "cms", 302) == 4:
        box.clear()
        return []
    index = _int(args[0] if args else "", "cms", 321)
    if not 0 <= index < m.profile.capacity:
        raise SimCommandError("cms", 321)
    box.pop(index, None)
    return []


def _cnma(m: SimulatedModem, kind: str, arg: str) -> list[str]:
    return []


HANDLERS: dict[str, Handler] = {
    "": _at,
    "E": _echo,
    "Z": _reset,
    "I": _identity,
    "+CGMI": _value("manufacturer"),
    "+GMI": _value("manufacturer"),
    "+CGMM": _value("model"),
    "+GMM": _value("model"),
    "+CGMR": _value("revision"),
    "+CGSN": _value("imei"),
    "+CIMI": _value("imsi"),
    "+CMEE": _cmee,
    "+CPIN": _cpin,
    "+CMGF": _cmgf,
    "+CSCA": _csca,
    "+CPMS": _cpms,
    "+CNMI": _cnmi,
    "+CSMS": _csms,
    "+CSQ": _csq,
    "+CREG": _registration("+CREG"),
    "+CGREG": _registration("+CGREG"),
    "+CEREG": _registration("+CEREG"),
    "+COPS": _cops,
    "+CFUN": _cfun,
    "+CMGS": _cmgs,
    "+CMGR": _cmgr,
    "+CMGL": _cmgl,
    "+CMGD": _cmgd,
    "+CNMA": _cnma,
}
