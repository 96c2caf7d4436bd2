"""What the modem layer needs to know of its modem: port, serial settings, SIM and timeouts.

The configuration's ``ModemConfig`` extends this with the modem's place in the pool; the
modem layer itself never reads the configuration, so it can be driven from a test, ``doctor``
or another program with these settings alone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModemSettings:
    port: str = "/dev/ttyUSB2"
    baudrate: int = 115200
    rtscts: bool = False  # hardware flow control; USB modems do not need it
    xonxoff: bool = False
    pin: str | None = None
    smsc: str | None = None  # set on the SIM only when it has none
    delivery_reports: bool = True
    profile: str = "auto"  # auto | generic | huawei-e3372 | simcom-sim7600 | quectel-ec25
    storage: str = "auto"  # auto | SM | ME | MT
    command_timeout: float = 5.0
    send_timeout: float = 60.0
    reconnect_max_delay: float = 1.0  # seconds between attempts to reopen a vanished port
    # Where stable names of serial devices live: if the port vanishes and does not come
    # back under its name, the link that pointed to it is followed (USB re-enumeration).
    stable_links: str = "/dev/serial/by-id"
