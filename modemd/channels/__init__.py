"""Ways out for an SMS: the channel interface and its drivers (the AT modem, an SMPP link to
an SMS centre, a file).

``open_channel`` picks the driver: ``kind: smpp`` is an SMPP link; otherwise by the port's
scheme, ``file://PATH`` writes each part to a file (a dry run) and anything else (a serial
device, ``sim://``) is an AT modem. Drivers are imported only when used, so a new one costs
nothing to the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modemd.channels.base import MessageHandler, ReceiptHandler, StateHandler

if TYPE_CHECKING:
    from modemd.channels.base import Channel
    from modemd.modem.references import ReferenceCounter
    from modemd.modem.settings import ModemSettings


def kind_of(port: str, kind: str = "modem") -> str:
    """The kind of channel a configured entry stands for."""
    if kind == "smpp":
        return "smpp"
    return "file" if port.startswith("file:") else "modem"


def open_channel(
    name: str,
    settings: ModemSettings,
    *,
    on_message: MessageHandler,
    on_receipt: ReceiptHandler,
    on_state: StateHandler,
    state_dir: Path,
    reference_file: str = "concat-ref",
    reassembly_timeout: float = 3600.0,
) -> Channel:
    """The channel for one configured entry (not started)."""
    from modemd.config import ChannelConfig

    if isinstance(settings, ChannelConfig) and settings.kind == "smpp":
        from modemd.channels.smpp import SmppChannel

        return SmppChannel(
            name,
            settings,
            on_message=on_message,
            on_receipt=on_receipt,
            on_state=on_state,
            reassembly_timeout=reassembly_timeout,
        )
    if kind_of(settings.port) == "file":
        from modemd.channels.file import FileChannel

        return FileChannel(
            name, settings.port, on_message=on_message, on_receipt=on_receipt, on_state=on_state
        )
    from modemd.channels.modem import ModemChannel
    from modemd.modem.references import ReferenceCounter

    references: ReferenceCounter = ReferenceCounter(state_dir / reference_file)
    return ModemChannel(
        name,
        settings,
        on_message=on_message,
        on_receipt=on_receipt,
        on_state=on_state,
        # One concatenation counter per SIM: phones join parts per sender number.
        references=references,
        pin_guard=state_dir / f"pin-rejected-{name}",
        reassembly_timeout=reassembly_timeout,
    )
