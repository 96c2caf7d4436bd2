"""Vendor profiles of the built-in simulated modem: how real sticks differ, as data.

The values come from vendor AT manuals and field reports (see DOMAIN notes in the README):
Huawei sticks announce new SMS in "ME" whatever storage is polled and chatter ``^RSSI`` /
``^HCSQ`` until ``AT^CURC=0``; SIMCom and Quectel print boot banners and ``+CREG`` noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SimProfile:
    name: str
    manufacturer: str
    model: str
    revision: str
    imei: str = "866123456789012"
    imsi: str = "208011234567890"
    operator: str = "Orange F"
    echo_default: bool = True
    storages: tuple[str, ...] = ("SM", "ME")
    default_storage: str = "SM"
    # Where new messages are really stored and announced, whatever +CPMS says (Huawei quirk).
    cmti_storage: str | None = None
    boot_lines: tuple[str, ...] = ()
    noise_lines: tuple[str, ...] = ()
    noise_interval: float = 0.0  # seconds between unsolicited noise lines; 0 = none
    # Vendor-only commands answered OK; the one that silences the noise is named apart.
    vendor_commands: frozenset[str] = field(default_factory=frozenset)
    noise_silencer: str | None = None
    send_latency: float = 0.05  # seconds the network takes to answer AT+CMGS
    status_report_delay: float = 0.2
    capacity: int = 30  # messages per storage


PROFILES: dict[str, SimProfile] = {
    p.name: p
    for p in (
        SimProfile(
            name="generic",
            manufacturer="Generic",
            model="GSM-4G Modem",
            revision="1.0",
            storages=("SM",),
        ),
        SimProfile(
            name="huawei-e3372",
            manufacturer="huawei",
            model="E3372",
            revision="21.180.01.00.00",
            storages=("SM", "ME"),
            cmti_storage="ME",
            boot_lines=("^SIMST: 1", "^SRVST: 2"),
            noise_lines=("^RSSI: 18", '^HCSQ: "LTE",51,43,156,24', "^MODE: 17,17"),
            noise_interval=0.3,
            vendor_commands=frozenset({"AT^CURC=0", "AT^CURC=1", "AT^SYSCFGEX?"}),
            noise_silencer="AT^CURC=0",
            send_latency=0.08,
        ),
        SimProfile(
            name="simcom-sim7600",
            manufacturer="SIMCOM INCORPORATED",
            model="SIMCOM_SIM7600E-H",
            revision="LE20B04SIM7600M22",
            storages=("SM", "ME", "MT"),
            boot_lines=("RDY", "+CPIN: READY", "SMS DONE", "PB DONE"),
            noise_lines=("+CREG: 1",),
            noise_interval=0.5,
            vendor_commands=frozenset({"AT+CNMP?", "AT+CSCLK=0"}),
            send_latency=0.06,
        ),
        SimProfile(
            name="quectel-ec25",
            manufacturer="Quectel",
            model="EC25",
            revision="EC25EFAR06A06M4G",
            storages=("SM", "ME", "MT"),
            default_storage="ME",
            boot_lines=("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"),
            noise_lines=('+QIND: "csq",22,99',),
            noise_interval=0.5,
            vendor_commands=frozenset({'AT+QURCCFG="urcport","usbat"'}),
            send_latency=0.07,
        ),
    )
}


def get_profile(name: str) -> SimProfile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown simulator profile {name!r} (known: {known})") from None
