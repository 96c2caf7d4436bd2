"""Pure parsers for the modem's answers: signal, registration, operator, storage, listings."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

# 27.007 +CREG/+CGREG/+CEREG <stat> values.
REGISTRATION: dict[int, str] = {
    0: "not registered",
    1: "registered (home)",
    2: "searching",
    3: "registration denied",
    4: "unknown",
    5: "registered (roaming)",
    6: "registered for SMS only (home)",
    7: "registered for SMS only (roaming)",
    10: "emergency only",
}
REGISTERED = frozenset({1, 5, 6, 7})


@dataclass(frozen=True)
class Signal:
    rssi: int  # 0..31, 99 = unknown

    @property
    def known(self) -> bool:
        return 0 <= self.rssi <= 31

    @property
    def dbm(self) -> int | None:
        return -113 + 2 * self.rssi if self.known else None

    @property
    def quality(self) -> str:
        if not self.known:
            return "no signal"
        if self.rssi < 10:
            return "weak"
        if self.rssi < 15:
            return "fair"
        return "good" if self.rssi < 20 else "excellent"


def strip_prefix(line: str) -> str:
    """``+CGMR: 1.0`` / ``Revision: 1.0`` -> ``1.0``; identity answers vary by vendor."""
    match = re.match(r"^(?:\+\w+:|Revision:|Manufacturer:|Model:)\s*(.*)$", line, re.I)
    return (match.group(1) if match else line).strip()


def first_value_line(lines: list[str]) -> str:
    return strip_prefix(lines[0]) if lines else ""


def parse_csq(lines: list[str]) -> Signal:
    for line in lines:
        match = re.match(r"^\+CSQ:\s*(\d+)\s*,", line)
        if match:
            return Signal(int(match.group(1)))
    return Signal(99)


def parse_registration(lines: list[str]) -> int | None:
    """The <stat> of a +CREG?/+CGREG?/+CEREG? answer (the second field; first if alone)."""
    for line in lines:
        match = re.match(r"^\+C(?:G|E)?REG:\s*(.*)$", line)
        if match:
            fields = [f.strip().strip('"') for f in match.group(1).split(",")]
            value = fields[1] if len(fields) > 1 else fields[0]
            return int(value) if value.isdigit() else None
    return None


def parse_operator(lines: list[str]) -> str | None:
    for line in lines:
        match = re.match(r'^\+COPS:\s*\d+\s*,\s*\d+\s*,\s*"([^"]*)"', line)
        if match:
            return match.group(1)
    return None


def parse_smsc(lines: list[str]) -> str | None:
    for line in lines:
        match = re.match(r'^\+CSCA:\s*"([^"]*)"', line)
        if match:
            number = match.group(1).strip()
            # Some modems quote the SMSC in UCS-2 hex when +CSCS="UCS2".
            if re.fullmatch(r"(?:00[0-9A-F]{2})+", number, re.I) and len(number) >= 8:
                number = bytes.fromhex(number).decode("utf-16-be")
            return number or None
    return None


def parse_storages(lines: list[str]) -> tuple[str, ...]:
    """Storages usable for reading, from ``+CPMS: ("SM","ME"),(...),(...)``."""
    for line in lines:
        if line.startswith("+CPMS:"):
            first = re.search(r"\(([^)]*)\)", line)
            if first:
                return tuple(m.strip().strip('"') for m in first.group(1).split(",") if m.strip())
            return tuple(re.findall(r'"(\w+)"', line))
    return ()


@dataclass(frozen=True)
class Stored:
    index: int
    stat: int
    pdu: str


def parse_storage_use(lines: list[str]) -> tuple[str, int] | None:
    """(storage, messages held) of the first storage in ``+CPMS: "ME",1,23,"ME",1,23,...``
    (the read form); None if the answer is not understood."""
    for line in lines:
        match = re.match(r'^\+CPMS:\s*"?(\w+)"?\s*,\s*(\d+)\s*,', line)
        if match:
            return match.group(1), int(match.group(2))
    return None


def parse_listing(lines: list[str]) -> list[Stored]:
    """``+CMGL: <index>,<stat>,,<len>`` each followed by its PDU line."""
    found: list[Stored] = []
    header: tuple[int, int] | None = None
    for line in lines:
        match = re.match(r"^\+CMGL:\s*(\d+)\s*,\s*(\d+)", line)
        if match:
            header = (int(match.group(1)), int(match.group(2)))
        elif header is not None:
            found.append(Stored(header[0], header[1], line.strip()))
            header = None
    return found


def parse_read(lines: list[str]) -> str | None:
    """The PDU line of a ``+CMGR`` answer, or None for an empty slot."""
    for i, line in enumerate(lines):
        if line.startswith("+CMGR:") and i + 1 < len(lines):
            return lines[i + 1].strip()
    return None


def parse_index_urc(line: str) -> tuple[str, int] | None:
    """``+CMTI: "ME",3`` / ``+CDSI: "SR",0`` -> ("ME", 3)."""
    match = re.match(r'^\+C(?:MTI|DSI):\s*"?(\w*)"?\s*,\s*(\d+)', line)
    if match:
        return match.group(1) or "", int(match.group(2))
    return None


def parse_message_reference(lines: list[str]) -> int | None:
    """The TP-MR of a ``+CMGS:`` answer; None when a modem said OK without it (the SMS left:
    only its delivery report cannot be matched)."""
    for line in lines:
        match = re.match(r"^\+CMGS:\s*(\d+)", line)
        if match:
            return int(match.group(1))
    return None


@dataclass
class ModemStatus:
    """What ``status`` and ``doctor`` show; refreshed at bring-up and by ``refresh``."""

    port: str
    state: str = "starting"  # starting | ready | lost | failed | stopped
    detail: str = ""
    profile: str = ""
    manufacturer: str = ""
    model: str = ""
    revision: str = ""
    imei: str = ""
    imsi: str = ""
    smsc: str | None = None
    storage: str = ""
    storages: tuple[str, ...] = ()
    cnmi: str = ""
    status_reports: bool = False
    signal: Signal = field(default_factory=lambda: Signal(99))
    registration: int | None = None
    operator: str | None = None
    since: float = field(default_factory=time.time)

    @property
    def registered(self) -> bool:
        return self.registration in REGISTERED

    @property
    def registration_text(self) -> str:
        if self.registration is None:
            return "unknown"
        return REGISTRATION.get(self.registration, f"state {self.registration}")
