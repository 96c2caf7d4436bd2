"""Host-side vendor profiles: what to tell each modem family, as data.

Chosen by name from ``modem.profile`` or, with ``auto``, by the manufacturer the modem reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from modemd.modem.at import DEFAULT_MARKERS

# 27.005 +CNMI=<mode>,<mt>,<bm>,<ds>,<bfr>: mt=1 stores new SMS and announces them with +CMTI
# (stored first, so nothing is lost if we are busy); ds=1 pushes status reports as +CDS,
# ds=2 stores them and announces +CDSI. Tried in order until the modem accepts one.
STANDARD_CNMI: tuple[str, ...] = (
    "AT+CNMI=2,1,0,1,0",
    "AT+CNMI=2,1,0,2,0",
    "AT+CNMI=1,1,0,2,0",
    "AT+CNMI=1,1,0,1,0",
    "AT+CNMI=2,1,0,0,0",
)


@dataclass(frozen=True)
class ModemProfile:
    name: str
    manufacturers: tuple[str, ...] = ()  # lowercase substrings of AT+CGMI that select it
    init_commands: tuple[str, ...] = ()  # vendor set-up; a refusal is logged, not fatal
    cnmi: tuple[str, ...] = STANDARD_CNMI
    storages: tuple[str, ...] = ("SM", "ME", "MT")  # preference order among those offered
    reset_command: str = "AT+CFUN=1,1"
    send_timeout: float = 60.0  # AT+CMGS waits for the network's answer
    # Queries the AT engine resynchronises on after a timeout, tried in order while the
    # modem refuses them (see modemd.modem.at).
    sync_markers: tuple[str, ...] = DEFAULT_MARKERS


PROFILES: dict[str, ModemProfile] = {
    p.name: p
    for p in (
        ModemProfile("generic"),
        # ^CURC=0 silences ^RSSI/^HCSQ/^MODE chatter; new SMS are announced in "ME".
        ModemProfile(
            "huawei-e3372", ("huawei",), init_commands=("AT^CURC=0",), storages=("ME", "SM")
        ),
        ModemProfile("simcom-sim7600", ("simcom",)),
        # Quectel: URCs on the AT port we use, not only on the modem's other ports.
        ModemProfile(
            "quectel-ec25",
            ("quectel",),
            init_commands=('AT+QURCCFG="urcport","usbat"',),
            storages=("ME", "SM"),
        ),
    )
}


def select_profile(name: str, manufacturer: str = "") -> ModemProfile:
    """The profile named, or for ``auto`` the one matching the manufacturer (else generic)."""
    if name != "auto":
        try:
            return PROFILES[name]
        except KeyError:
            known = ", ".join(["auto", *sorted(PROFILES)])
            raise ValueError(f"unknown modem profile {name!r} (known: {known})") from None
    vendor = manufacturer.lower()
    for profile in PROFILES.values():
        if any(word in vendor for word in profile.manufacturers):
            return profile
    return PROFILES["generic"]
