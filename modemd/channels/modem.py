"""The USB modem as a channel: AT commands behind the channel interface.

What is modem-specific stays here: PDUs and their concatenation reference (the ``resume``
note of a half-sent message), TP-MR message references (ids that wrap at 256), which AT errors
mean "never left", "in doubt" or "no network", and telling the modem a send went unanswered
so it can reset itself.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modemd.channels.base import (
    Channel,
    ChannelStatus,
    Doubt,
    InboundSms,
    MessageHandler,
    NotSent,
    Offline,
    OutgoingSms,
    Receipt,
    ReceiptHandler,
    StateHandler,
    _ignore,
)
from modemd.modem.device import Modem
from modemd.modem.errors import CmeError, CmsError, CommandFailed, ModemError
from modemd.modem.references import ReferenceCounter
from modemd.modem.settings import ModemSettings
from modemd.sms.pdu import CodecError, Deliver, StatusReport, SubmitPdu

NO_NETWORK_CODES = frozenset({331, 332})  # pause sending instead of burning retries
NETWORK_PAUSE = 5.0


class ModemChannel(Channel):
    kind = "modem"
    lanes = 1  # one AT+CMGS at a time

    def __init__(
        self,
        name: str,
        settings: ModemSettings,
        *,
        on_message: MessageHandler = _ignore,
        on_receipt: ReceiptHandler = _ignore,
        on_state: StateHandler = _ignore,
        references: ReferenceCounter | None = None,
        pin_guard: Path | None = None,
        reassembly_timeout: float = 3600.0,
    ) -> None:
        super().__init__(name, on_message=on_message, on_receipt=on_receipt, on_state=on_state)
        self.modem = Modem(
            settings,
            on_sms=self._deliver,
            on_status_report=self._report,
            on_state=self._state,
            references=references,
            pin_guard=pin_guard,
            reassembly_timeout=reassembly_timeout,
        )

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.modem.start(wait=False)

    def stop(self) -> None:
        self.modem.stop()

    @property
    def ready(self) -> bool:
        return self.modem.ready

    def wait_ready(self, timeout: float) -> bool:
        return self.modem.wait_ready(timeout)

    def check(self) -> None:
        if self.modem.ready:
            self.modem.check()

    def sweep(self, wait: float) -> bool:
        return not self.modem.ready or self.modem.sweep(wait=wait)

    @property
    def send_deadline(self) -> float:
        return self.modem.send_deadline

    def status(self) -> ChannelStatus:
        st = self.modem.status
        # Signal, network and operator are what the modem last said: without a ready modem
        # they are unknown now, not what they were.
        known = st.state == "ready"
        facts: dict[str, Any] = {
            "profile": st.profile,
            "manufacturer": st.manufacturer,
            "model": st.model,
            "smsc": st.smsc,
            "signal_rssi": st.signal.rssi if known else None,
            "registered": st.registered if known else None,
        }
        return ChannelStatus(
            name=self.name,
            kind=self.kind,
            where=st.port,
            state=st.state,
            detail=st.detail,
            since=st.since,
            online=None if st.registration is None else st.registered,
            network=st.registration_text if known else "unknown",
            signal_dbm=st.signal.dbm if known else None,
            signal_quality=st.signal.quality if known else "unknown",
            operator=st.operator if known else None,
            facts=facts,
        )

    # sending -----------------------------------------------------------------------------
    def _prepare(self, sms: OutgoingSms) -> tuple[Sequence[Any], str | None]:
        reference = int(sms.resume) if sms.resume else None
        if reference is None and sms.parts > 1:
            # One counter per SIM, on disk, so phones never join parts of two messages;
            # when the disk is what cannot be written, a random one from memory.
            reference = random.randrange(256) if sms.off_disk else self.modem.next_reference()
        try:
            pdus = self.modem.compose(
                sms.recipient,
                sms.text,
                sms.encoding,
                validity=sms.validity,
                concat_reference=reference,
            )
        except (CodecError, ValueError) as exc:
            raise NotSent(f"cannot compose: {exc}", permanent=True) from exc
        return pdus, None if reference is None else str(reference)

    def _transmit(self, piece: Any) -> str | None:
        assert isinstance(piece, SubmitPdu)
        try:
            reference = self.modem.send_pdu(piece)
        except CmsError as exc:
            if exc.code in NO_NETWORK_CODES:
                raise Offline(str(exc), NETWORK_PAUSE) from exc
            raise NotSent(str(exc), permanent=not exc.transient) from exc
        except CmeError as exc:
            raise NotSent(str(exc), permanent=not exc.transient) from exc
        except CommandFailed as exc:
            # A plain ERROR says nothing of the cause: retried with backoff.
            raise NotSent(str(exc)) from exc
        except ModemError as exc:
            # The link died or the modem fell silent mid-exchange: the part may have left.
            self.modem.report_send_trouble(exc)
            raise Doubt(str(exc)) from exc
        self.modem.report_send_ok()
        return None if reference is None else str(reference)

    # inbound -----------------------------------------------------------------------------
    def _deliver(self, message: Deliver) -> None:
        # A damaged PDU comes with what was wrong and the PDU as received, for operators.
        self.on_message(
            InboundSms(
                self.name,
                message.sender,
                message.text,
                message.timestamp.timestamp(),
                damaged=message.damage,
                raw=message.pdu,
            )
        )

    def _report(self, report: StatusReport) -> None:
        state = "delivered" if report.delivered else "failed" if report.failed else "pending"
        self.on_receipt(
            Receipt(
                self.name, str(report.reference), report.recipient, state, report.scts.timestamp()
            )
        )

    def _state(self, state: str, detail: str) -> None:
        self.on_state(state, detail)
