"""Typed modem errors, on two axes: where they happened and whether a retry can help.

The meaning of every ``+CMS ERROR`` / ``+CME ERROR`` code lives in one table each, so that the
dispatcher asks ``error.transient`` instead of matching numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar


class Stage(Enum):
    """Where an error happened; tells an operator which part of the chain to look at."""

    CONNECT = "connect"
    INIT = "init"
    COMMAND = "command"
    SEND = "send"


class ModemError(Exception):
    """Base of everything the modem layer raises."""

    transient: bool = False

    def __init__(self, message: str, *, stage: Stage = Stage.COMMAND) -> None:
        super().__init__(message)
        self.stage = stage


class PortUnavailable(ModemError):
    """The serial port cannot be opened (missing, busy, permission denied)."""

    transient = True


class ConnectionLost(ModemError):
    """The port vanished while in use (USB unplugged, re-enumeration)."""

    transient = True


class CommandTimeout(ModemError):
    """The modem did not answer a command in time."""

    transient = True


class ModemUnresponsive(ModemError):
    """The modem stopped answering even ``AT``: it needs a reset or a reopen."""

    transient = True


class CommandFailed(ModemError):
    """A plain ``ERROR`` final result (no code)."""

    def __init__(self, command: str, *, stage: Stage = Stage.COMMAND) -> None:
        super().__init__(f"modem answered ERROR to {command}", stage=stage)
        self.command = command


class SimError(ModemError):
    """SIM trouble that needs a person: PIN missing or wrong, PUK required, no SIM."""

    def __init__(self, message: str) -> None:
        super().__init__(message, stage=Stage.INIT)


@dataclass(frozen=True)
class Code:
    meaning: str
    transient: bool


# 3GPP TS 27.005 §3.2.5: 1-127 are RP cause values (TS 24.011), 128-255 TP-FCS (TS 23.040),
# 300-511 ME/TA errors. "transient" = the same message may go through later unchanged.
CMS_CODES: dict[int, Code] = {
    1: Code("unassigned (unallocated) number", False),
    8: Code("operator determined barring", False),
    10: Code("call barred", False),
    21: Code("short message transfer rejected", False),
    27: Code("destination out of service", True),
    28: Code("unidentified subscriber", False),
    29: Code("facility rejected", False),
    30: Code("unknown subscriber", False),
    38: Code("network out of order", True),
    41: Code("temporary failure", True),
    42: Code("congestion", True),
    47: Code("resources unavailable", True),
    50: Code("requested facility not subscribed", False),
    69: Code("requested facility not implemented", False),
    81: Code("invalid short message transfer reference value", True),
    95: Code("invalid message", False),
    96: Code("invalid mandatory information", False),
    97: Code("message type non-existent or not implemented", False),
    98: Code("message not compatible with short message protocol state", True),
    99: Code("information element non-existent or not implemented", False),
    111: Code("protocol error", True),
    127: Code("interworking error", True),
    128: Code("telematic interworking not supported", False),
    143: Code("TP-PID not supported", False),
    144: Code("data coding scheme not supported", False),
    159: Code("TP-DCS not supported", False),
    176: Code("TPDU not supported", False),
    192: Code("SC busy", True),
    193: Code("no SC subscription", False),
    194: Code("SC system failure", True),
    195: Code("invalid SME address", False),
    196: Code("destination SME barred", False),
    197: Code("SM rejected: duplicate SM", False),
    208: Code("SIM SMS storage full", True),
    300: Code("ME failure", True),
    301: Code("SMS service of ME reserved", True),
    302: Code("operation not allowed", False),
    303: Code("operation not supported", False),
    304: Code("invalid PDU mode parameter", False),
    305: Code("invalid text mode parameter", False),
    310: Code("SIM not inserted", False),
    311: Code("SIM PIN required", False),
    312: Code("PH-SIM PIN required", False),
    313: Code("SIM failure", False),
    314: Code("SIM busy", True),
    315: Code("SIM wrong", False),
    316: Code("SIM PUK required", False),
    317: Code("SIM PIN2 required", False),
    318: Code("SIM PUK2 required", False),
    320: Code("memory failure", True),
    321: Code("invalid memory index", False),
    322: Code("memory full", True),
    330: Code("SMSC address unknown", False),
    331: Code("no network service", True),
    332: Code("network timeout", True),
    340: Code("no +CNMA acknowledgement expected", False),
    500: Code("unknown error", True),
}

# 3GPP TS 27.007 §9.2.
CME_CODES: dict[int, Code] = {
    0: Code("phone failure", True),
    1: Code("no connection to phone", True),
    3: Code("operation not allowed", False),
    4: Code("operation not supported", False),
    5: Code("PH-SIM PIN required", False),
    10: Code("SIM not inserted", False),
    11: Code("SIM PIN required", False),
    12: Code("SIM PUK required", False),
    13: Code("SIM failure", False),
    14: Code("SIM busy", True),
    15: Code("SIM wrong", False),
    16: Code("incorrect password", False),
    17: Code("SIM PIN2 required", False),
    18: Code("SIM PUK2 required", False),
    20: Code("memory full", True),
    21: Code("invalid index", False),
    22: Code("not found", False),
    23: Code("memory failure", True),
    30: Code("no network service", True),
    31: Code("network timeout", True),
    32: Code("network not allowed - emergency calls only", True),
    100: Code("unknown error", True),
}

_UNKNOWN = Code("unknown error", True)


def _lookup(table: dict[int, Code], code: int | str) -> tuple[int | None, Code]:
    """Find a code by number, or by its text when the modem reports verbose errors (CMEE=2)."""
    if isinstance(code, int):
        return code, table.get(code, _UNKNOWN)
    text = code.strip()
    if text.isdigit():
        number = int(text)
        return number, table.get(number, _UNKNOWN)
    for number, entry in table.items():
        if entry.meaning.lower() == text.lower():
            return number, entry
    return None, Code(text, True)


class CodedError(ModemError):
    """An error final result with a code; its meaning and retry class come from a table."""

    prefix = ""
    table: ClassVar[dict[int, Code]] = {}
    default_stage = Stage.COMMAND

    def __init__(self, code: int | str, command: str = "", *, stage: Stage | None = None) -> None:
        number, entry = _lookup(self.table, code)
        self.code = number
        self.meaning = entry.meaning
        self.transient = entry.transient
        label = f"{number} " if number is not None else ""
        super().__init__(
            f"{self.prefix} {label}({entry.meaning}) for {command}",
            stage=stage or self.default_stage,
        )


class CmsError(CodedError):
    """``+CMS ERROR: <code>``: a message-service failure, code and meaning from CMS_CODES."""

    prefix = "+CMS ERROR"
    table = CMS_CODES
    default_stage = Stage.SEND


class CmeError(CodedError):
    """``+CME ERROR: <code>``: an equipment failure, code and meaning from CME_CODES."""

    prefix = "+CME ERROR"
    table = CME_CODES
