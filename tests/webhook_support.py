"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that checks each
``Modemd-Signature`` against the shared secret, as a receiver should, and keeps what came."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, secret: str, port: int) -> None:
        self.secret = secret
        self.port = port
        self.events: list[dict[str, Any]] = []
        self.bad: list[str] = []  # signatures that did not verify
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def verify(self, header: str, body: bytes) -> bool:
        fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        expected = hmac.new(
            self.secret.encode(), f"{fields.get('t', '')}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, fields.get("v1", ""))

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signed = receiver.verify(self.headers.get("Modemd-Signature", ""), body)
                with receiver._lock:
                    if signed:
                        receiver.events.append(json.loads(body))
                    else:
                        receiver.bad.append(self.headers.get("Modemd-Signature", ""))
                self.send_response(204 if signed else 401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def seen(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def of(self, event_type: str, **data: object) -> list[dict[str, Any]]:
        return [
            e for e in self.seen()
            if e["type"] == event_type and all(e["data"].get(k) == v for k, v in data.items())
        ]
