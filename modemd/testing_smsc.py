"""Test support: an SMS centre on 127.0.0.1 that modemd did not write, for tests and benches.

The SMSC is the ``smpp34`` package's SMPP 3.4 server (its own codec, sessions and timers);
this module only scripts it, as an aggregator would behave: accept or refuse each submit
(throttled, queue full, invalid number), leave one unanswered, send delivery receipts
(delivered, undeliverable, expired) and SMS from phones (a STOP). Between modemd and the
server sits a plain TCP relay, so a test can cut the link as a network would, mid-window.
Everything runs on one asyncio loop in a thread of the test's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import smpp34

RECEIPTED_MESSAGE_ID, MESSAGE_STATE = 0x001E, 0x0427  # TLV tags (SMPP 3.4 section 5.3.2)
ACCEPT = "accept"
HOLD = "hold"  # never answered: the submit is in doubt for modemd
Decision = str | int  # ACCEPT, HOLD, or a command_status to refuse with


@dataclass(frozen=True)
class Submitted:
    at: float
    destination: str
    source: str
    esm_class: int
    data_coding: int
    short_message: bytes
    message_id: str | None  # None: refused or held
    status: int

    @property
    def concat(self) -> tuple[int, int, int] | None:
        """(reference, total, seq) from the UDH of a concatenated part."""
        if not self.esm_class & 0x40:
            return None
        header = self.short_message[1 : 1 + self.short_message[0]]
        if header[:2] == b"\x00\x03":
            return header[2], header[3], header[4]
        return None

    @property
    def complete(self) -> bool:
        """The last part of a message (or its only one)."""
        concat = self.concat
        return self.message_id is not None and (concat is None or concat[1] == concat[2])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestSmsc:
    """``port`` is where modemd binds (the relay); ``decide`` picks each submit's answer and
    ``receipt`` the stat of its delivery receipt (None: no receipt)."""

    __test__ = False  # not a pytest class

    def __init__(self, system_id: str = "SMSC", tls: ssl.SSLContext | None = None) -> None:
        self.port = free_port()
        self.tls = tls  # the relay speaks TLS to modemd with this context
        self._inner = free_port()
        self.system_id = system_id
        self.decide: Callable[[Submitted], Decision] = lambda _s: ACCEPT
        self.receipt: Callable[[Submitted], str | None] = lambda _s: None
        self.receipt_tlvs = False
        self.submits: list[Submitted] = []
        # Seconds before each accepted submit is answered: what the SMS centre has taken but
        # modemd has not heard of yet (a kill then leaves it in doubt). Recorded at once.
        self.answer_delay = 0.0
        self.sessions: dict[str, smpp34.Esme] = {}
        self.binds = 0
        self._held: list[Any] = []
        self._relays: list[asyncio.StreamWriter] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-smsc", daemon=True)
        self._server: smpp34.Server | None = None
        self._relay: asyncio.Server | None = None

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> TestSmsc:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test SMSC did not start")
        return self

    def stop(self) -> None:
        """Stop listening and drop every link (again: nothing)."""
        if self._loop.is_closed():
            return
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> TestSmsc:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        main = self._loop.create_task(self._main())
        self._loop.run_forever()
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            self._loop.run_until_complete(main)

    async def _main(self) -> None:
        self._server = smpp34.Server(host="127.0.0.1", port=self._inner, system_id=self.system_id)
        await self._server.start()
        self._relay = await asyncio.start_server(
            self._relay_one, "127.0.0.1", self.port, ssl=self.tls
        )
        self._ready.set()
        while True:
            event = await self._server.next()
            if isinstance(event, smpp34.Esme):
                self.sessions[event.session_id] = event
                self.binds += 1
            elif isinstance(event, smpp34.Unbound):
                self.sessions.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                await self._on_submit(event)

    async def _shutdown(self) -> None:
        self.cut()
        if self._relay is not None:
            self._relay.close()
        if self._server is not None:
            await self._server.stop()

    # --------------------------------------------------------------------------- relay
    async def _relay_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            inner_reader, inner_writer = await asyncio.open_connection("127.0.0.1", self._inner)
        except OSError:
            writer.close()
            return
        self._relays += [writer, inner_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, inner_writer), pump(inner_reader, writer))

    def cut(self) -> None:
        """Drop every link at once, as a network would (thread-safe)."""
        if threading.current_thread() is not self._thread:
            self._loop.call_soon_threadsafe(self.cut)
            return
        relays, self._relays = self._relays, []
        for writer in relays:
            writer.transport.abort()

    def unbind(self) -> None:
        """Ask every bound ESME to unbind, as an SMS centre going down for upkeep does."""

        async def unbind_all() -> None:
            for session in list(self.sessions.values()):
                with contextlib.suppress(smpp34.SmppError, OSError, RuntimeError):
                    await session.unbind()

        asyncio.run_coroutine_threadsafe(unbind_all(), self._loop).result(15)

    # ------------------------------------------------------------------------- submits
    async def _on_submit(self, event: Any) -> None:
        submitted = Submitted(
            time.time(),
            event.destination_addr,
            event.source_addr,
            event.esm_class,
            event.data_coding,
            bytes(event.short_message),
            None,
            0,
        )
        decision = self.decide(submitted)
        if decision == HOLD:
            self._held.append(event)  # kept: dropped, smpp34 would refuse it
            with self._lock:
                self.submits.append(submitted)
            return
        if decision == ACCEPT:
            message_id = f"{next(self._ids):08X}"
            if self.answer_delay:
                self._loop.call_later(self.answer_delay, self._late_accept, event, message_id)
            else:
                event.accept(message_id=message_id)
            submitted = Submitted(**{**submitted.__dict__, "message_id": message_id})
            with self._lock:
                self.submits.append(submitted)
            stat = self.receipt(submitted)
            if stat is not None:
                session = self.sessions.get(event.session_id)
                if session is not None:
                    self._loop.create_task(self._send_receipt(session, submitted, stat))
            return
        event.reject(int(decision))
        with self._lock:
            self.submits.append(Submitted(**{**submitted.__dict__, "status": int(decision)}))

    @staticmethod
    def _late_accept(event: Any, message_id: str) -> None:
        with contextlib.suppress(smpp34.SmppError, OSError, RuntimeError):
            event.accept(message_id=message_id)  # the link may be gone by now

    async def _send_receipt(self, session: Any, submitted: Submitted, stat: str) -> None:
        """In the 3.3 text form by default; ``receipt_tlvs``: with no text, the id in the
        ``receipted_message_id`` TLV written in decimal (as some SMS centres do, having
        answered the submit in hex) and the fate in ``message_state``."""
        assert submitted.message_id is not None
        stamp = time.strftime("%y%m%d%H%M")
        text = (
            f"id:{submitted.message_id} sub:001 dlvrd:{int(stat == 'DELIVRD'):03d} "
            f"submit date:{stamp} done date:{stamp} stat:{stat} err:000 text:"
        ).encode()
        tlvs: list[smpp34.Tlv] = []
        if self.receipt_tlvs:
            decimal = str(int(submitted.message_id, 16)).encode() + b"\0"
            state = {"DELIVRD": 2, "EXPIRED": 3, "UNDELIV": 5, "REJECTD": 8}.get(stat, 7)
            tlvs = [
                smpp34.Tlv(RECEIPTED_MESSAGE_ID, decimal),
                smpp34.Tlv(MESSAGE_STATE, bytes([state])),
            ]
            text = b""
        # The link gone, an SMS centre would try later; ours forgets.
        with contextlib.suppress(smpp34.SmppError, OSError, RuntimeError):
            await session.deliver_sm(
                source_addr=submitted.destination,
                destination_addr=submitted.source,
                source_addr_ton=1,
                source_addr_npi=1,
                esm_class=0x04,
                short_message=text,
                tlvs=tlvs,
            )

    # ---------------------------------------------------------------------- from phones
    def mo(self, sender: str, text: str, to: str = "38100", parts: int = 1) -> int:
        """An SMS from a phone (``+336...``) to our number, on the first bound session, in
        ``parts`` parts joined by a UDH; the command_status modemd answered the last with."""
        size = -(-len(text) // parts)
        pieces = [text[i : i + size] for i in range(0, len(text), size)]

        async def send() -> int:
            session = next(iter(self.sessions.values()))
            status = 0
            for seq, piece in enumerate(pieces, start=1):
                body = piece.encode("ascii")  # plain ASCII is GSM-7 too
                if len(pieces) > 1:
                    body = bytes([5, 0, 3, 0x2A, len(pieces), seq]) + body
                resp = await session.deliver_sm(
                    source_addr=sender.lstrip("+"),
                    destination_addr=to,
                    source_addr_ton=1 if sender.startswith("+") else 0,
                    source_addr_npi=1,
                    esm_class=0x40 if len(pieces) > 1 else 0,
                    data_coding=0,
                    short_message=body,
                )
                status = int(resp.command_status)
            return status

        return asyncio.run_coroutine_threadsafe(send(), self._loop).result(15)

    # ------------------------------------------------------------------------- reading
    def accepted(self) -> list[Submitted]:
        with self._lock:
            return [s for s in self.submits if s.message_id is not None]

    def messages_to(self) -> list[str]:
        """One entry per complete message accepted (its last part), by destination."""
        with self._lock:
            return [s.destination for s in self.submits if s.complete]

    def wait(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True
