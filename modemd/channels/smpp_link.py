"""One SMPP 3.4 session with an SMS centre, as a transceiver: bind, a reader, a window.

The PDU codec is python-smpplib's (``smpplib``): it builds and parses every PDU and owns the
socket. What it lacks for a window of outstanding submits is here: one reader thread takes
every PDU off the link and hands each ``submit_sm_resp`` to the sender waiting on its
sequence number, answers ``deliver_sm`` and ``enquire_link``, and asks ``enquire_link`` of a
quiet link; any number of senders write under one lock. When the link dies every waiting
sender is told at once: what it wrote is then in doubt.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smpplib import consts, smpp  # type: ignore[import-untyped]
from smpplib.client import Client  # type: ignore[import-untyped]
from smpplib.exceptions import ConnectionError as SmppConnectionError  # type: ignore[import-untyped]
from smpplib.exceptions import PDUError

log = logging.getLogger(__name__)

# smpplib logs every PDU in hex at DEBUG, the bind's password with it: its logger stays at
# WARNING whatever the daemon's level, and what matters is said by the channel.
WIRE_LOG = "modemd.smpp.wire"
logging.getLogger(WIRE_LOG).setLevel(logging.WARNING)

READ_POLL = 0.5  # seconds between looks at a quiet socket (and at the stop flag)
ESME_RX_T_APPN = 0x64  # "try again later": a deliver_sm we cannot take now (a full disk)
INTERFACE_VERSION = 0x34


class LinkDown(Exception):
    """The link is not bound, or died while we waited for an answer."""


@dataclass(frozen=True)
class Answer:
    """The SMS centre's answer to one submit: its status and, accepted, its message id."""

    status: int
    message_id: str | None


def text_of(value: Any) -> str:
    """smpplib gives C-octet strings as bytes; ids and addresses are ASCII."""
    if isinstance(value, bytes):
        return value.rstrip(b"\0").decode("ascii", "replace")
    return "" if value is None else str(value)


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: Answer | None = None


class SmppLink:
    """Bound on ``open``, dead for good after ``close`` or a lost link (open a new one)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        system_id: str,
        password: str,
        system_type: str,
        tls: bool,
        enquire_link: float,
        response_timeout: float,
        on_deliver: Callable[[Any], int],
        on_lost: Callable[[str], None],
        on_accepted: Callable[[str], None] = lambda message_id: None,
        on_idle: Callable[[], None] = lambda: None,
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self._bind_args = {
            "system_id": system_id,
            "password": password,
            "system_type": system_type,
            "interface_version": INTERFACE_VERSION,
        }
        self._client = Client(
            host,
            port,
            timeout=response_timeout,
            logger_name=WIRE_LOG,
            allow_unknown_opt_params=True,
        )
        self.enquire_link = enquire_link
        self.response_timeout = response_timeout
        self.on_deliver = on_deliver
        self.on_lost = on_lost
        # Told of each accepted id by the reader, before it reads on: a receipt that follows
        # at once then finds the id already known.
        self.on_accepted = on_accepted
        self.on_idle = on_idle  # called when the link has been quiet for READ_POLL
        self._write = threading.Lock()
        self._waiters: dict[int, _Waiter] = {}
        self._waiters_lock = threading.Lock()
        self._dead = threading.Event()
        self._reader: threading.Thread | None = None
        self._heard = time.monotonic()  # the last PDU from the SMS centre
        self._asked: float | None = None  # an enquire_link awaiting its answer, since

    # ------------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Connect and bind as a transceiver; raise ``LinkDown`` with the reason."""
        try:
            self._connect()
            self._client.bind_transceiver(**self._bind_args)
        except ssl.SSLError as exc:
            self._drop()
            why = getattr(exc, "verify_message", None) or exc.reason or str(exc)
            raise LinkDown(f"TLS with {self.host}:{self.port} refused: {why}") from None
        except PDUError as exc:
            self._drop()
            raise LinkDown(f"bind refused: {exc.args[0]}") from None
        except (SmppConnectionError, OSError) as exc:
            self._drop()
            where = f"{self.host}:{self.port}"
            raise LinkDown(f"cannot connect to {where}: {exc or 'refused'}") from None
        self._heard = time.monotonic()
        self._reader = threading.Thread(target=self._read_loop, name="smpp-reader", daemon=True)
        self._reader.start()

    def _connect(self) -> None:
        """The TCP connection (and TLS, the certificate checked against the host), made
        here rather than by smpplib so that a refusal keeps its reason."""
        sock: socket.socket = socket.create_connection(
            (self.host, self.port), timeout=self.response_timeout
        )
        if self.tls:
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.host)
        self._client._socket = sock
        self._client.state = consts.SMPP_CLIENT_STATE_OPEN

    @property
    def alive(self) -> bool:
        return self._reader is not None and not self._dead.is_set()

    def outstanding(self) -> int:
        with self._waiters_lock:
            return len(self._waiters)

    def close(self) -> None:
        """Unbind politely (briefly), then drop the connection."""
        if self.alive:
            try:
                with self._write:
                    self._client.send_pdu(smpp.make_pdu("unbind", client=self._client))
            except (SmppConnectionError, PDUError, OSError):
                pass
            self._dead.wait(1.0)  # the reader sees the unbind_resp, or the close
        self._lost("closed")

    # -------------------------------------------------------------------------- sending
    def submit(self, fields: dict[str, Any], turn: Callable[[], bool]) -> Answer | None:
        """Write one submit_sm when ``turn`` allows (the throughput; False: stopping, and
        None is returned, nothing written) and wait for its answer. ``LinkDown("not
        bound")`` if the link is down before the write (nothing left); ``TimeoutError`` or
        another ``LinkDown`` after it (it may have left)."""
        if not self.alive:
            raise LinkDown("not bound")
        with self._write:
            if not turn():
                return None
            if not self.alive:
                raise LinkDown("not bound")
            pdu = smpp.make_pdu("submit_sm", client=self._client, **fields)
            waiter = _Waiter()
            with self._waiters_lock:
                self._waiters[pdu.sequence] = waiter
            try:
                self._client.send_pdu(pdu)
            except (SmppConnectionError, OSError, PDUError) as exc:
                # A write that failed may still have put some bytes on the wire.
                self._lost(f"write failed: {exc}")
                raise TimeoutError("the link died while writing") from None
        if not waiter.done.wait(self.response_timeout):
            with self._waiters_lock:
                self._waiters.pop(pdu.sequence, None)
            raise TimeoutError(f"no answer within {self.response_timeout:.0f} s")
        if waiter.answer is None:
            raise LinkDown("the link died before the answer")
        return waiter.answer

    # -------------------------------------------------------------------------- reading
    def _readable(self, wait: float) -> bool:
        sock = self._client._socket
        if sock is None:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        readable, _, _ = select.select([sock], [], [], wait)
        return bool(readable)

    def _read_loop(self) -> None:
        try:
            while not self._dead.is_set():
                if not self._readable(READ_POLL):
                    self._keep_alive()
                    self.on_idle()
                    continue
                pdu = self._client.read_pdu()
                self._heard, self._asked = time.monotonic(), None
                self._dispatch(pdu)
        except (SmppConnectionError, PDUError, OSError, ValueError) as exc:
            self._lost(f"link lost: {exc or type(exc).__name__}")
        except TimeoutError:
            self._lost("link lost: a PDU arrived only in part")
        except Exception as exc:  # smpplib raising something unexpected on a bad PDU
            log.exception("SMPP reader stopped")
            self._lost(f"link lost: {exc}")

    def _keep_alive(self) -> None:
        now = time.monotonic()
        if self._asked is not None:
            if now - self._asked > self.response_timeout:
                raise SmppConnectionError("no answer to enquire_link")
            return
        if now - self._heard >= self.enquire_link:
            self._asked = now
            with self._write:
                self._client.send_pdu(smpp.make_pdu("enquire_link", client=self._client))

    def _dispatch(self, pdu: Any) -> None:
        command = pdu.command
        if command in ("submit_sm_resp", "generic_nack"):
            with self._waiters_lock:
                waiter = self._waiters.pop(pdu.sequence, None)
            if waiter is not None:
                status = int(pdu.status)
                if command == "generic_nack" and status == 0:
                    status = consts.SMPP_ESME_RUNKNOWNERR
                message_id = text_of(getattr(pdu, "message_id", None)) or None
                if status == 0 and message_id:
                    self.on_accepted(message_id)
                waiter.answer = Answer(status, message_id)
                waiter.done.set()
        elif command == "deliver_sm":
            status = self.on_deliver(pdu)
            self._answer("deliver_sm_resp", pdu.sequence, status)
        elif command == "enquire_link":
            self._answer("enquire_link_resp", pdu.sequence)
        elif command == "unbind":
            self._answer("unbind_resp", pdu.sequence)
            raise SmppConnectionError("the SMS centre unbound")
        elif command == "unbind_resp":
            raise SmppConnectionError("unbound")
        # enquire_link_resp and anything else: hearing it was enough

    def _answer(self, command: str, sequence: int, status: int = 0) -> None:
        pdu = smpp.make_pdu(command, client=self._client, status=status)
        pdu.sequence = sequence
        with self._write:
            self._client.send_pdu(pdu)

    # ------------------------------------------------------------------------ the end
    def _drop(self) -> None:
        # smpplib warns when it disconnects a bound session; a lost link is said once, by us.
        self._client.state = consts.SMPP_CLIENT_STATE_OPEN
        with contextlib.suppress(OSError):
            self._client.disconnect()

    def _lost(self, reason: str) -> None:
        if self._dead.is_set():
            return
        self._dead.set()
        self._drop()
        with self._waiters_lock:
            waiters, self._waiters = list(self._waiters.values()), {}
        for waiter in waiters:
            waiter.done.set()  # no answer: their submits are in doubt
        self.on_lost(reason)
