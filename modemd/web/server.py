"""``modemd web``: the console served by uvicorn (pure Python, no compiled extras needed),
on ``web.listen``, over HTTPS when ``web.tls_cert`` and ``web.tls_key`` are set. It opens
the same database as the daemon (SQLite WAL: each reads while the other writes), so either
can stop without the other losing anything."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import socket
from collections.abc import Callable

import uvicorn

from modemd.config import Config
from modemd.web.app import create_app

log = logging.getLogger(__name__)


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter


def give_back_large_buffers() -> None:
    """glibc raises its mmap threshold to the largest block freed (up to 32 MiB), so after the
    first password check every Argon2 buffer (12 MiB) would come from the heap and stay
    resident. A fixed threshold keeps such buffers mapped apart, returned once freed."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc (musl, macOS): nothing to tune
    mallopt(M_MMAP_THRESHOLD, 1 << 20)


class _Server(uvicorn.Server):
    """uvicorn's server, saying when it listens: a link printed before would be refused."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.on_ready is not None and self.started:
            self.on_ready()


def serve(config: Config, on_ready: Callable[[], None] | None = None) -> int:
    give_back_large_buffers()
    host, port = split_listen(config.web.listen)
    app = create_app(config)
    web = config.web
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            server_header=False,
            proxy_headers=True,  # X-Forwarded-For from a reverse proxy on this host only
            forwarded_allow_ips="127.0.0.1",
            timeout_graceful_shutdown=3,  # live progress streams would hold a stop forever
            ssl_certfile=str(web.tls_cert) if web.tls_cert else None,
            ssl_keyfile=str(web.tls_key) if web.tls_key else None,
        ),
        on_ready,
    )
    scheme = "https" if web.tls_cert else "http"
    log.info("console on %s://%s:%d/", scheme, host, port)
    # uvicorn stops gracefully, then raises the Ctrl-C again for its caller: a person ending
    # the console is not a failure.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0
