"""A real local HTTP receiver for webhook tests: records every POST, answers as told."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver got and how it answers (``codes``: one status per request, the
    last one for every request after; ``hold``: requests wait for it to be set)."""

    url: str
    codes: list[int] = field(default_factory=lambda: [200])
    got: list[Received] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    entered: threading.Event = field(default_factory=threading.Event)  # a request came in
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The requests once there are ``count`` of them (fails after ``timeout``)."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got) >= count, timeout), self.got
            return list(self.got)


def signature_ok(secret: bytes, header: str, body: bytes) -> bool:
    """Whether ``X-Runner-Signature`` (``t=..,v1=..``) signs ``body`` under ``secret``."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(secret, f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A receiver on a free local port, stopped afterwards."""
    state: dict[str, Any] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec: Receiver = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.entered.set()
            rec.hold.wait(30)
            with rec.arrived:
                index = len(rec.got)
                rec.got.append(Received(self.path, dict(self.headers.items()), body))
                rec.arrived.notify_all()
            code = rec.codes[min(index, len(rec.codes) - 1)]
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    rec.hold.set()
    state["receiver"] = rec
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.hold.set()
        server.shutdown()
        server.server_close()
        thread.join()
