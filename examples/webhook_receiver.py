"""A webhook receiver for the runs service: checks each delivery's signature, prints it.

Run it beside the service (``python examples/webhook_receiver.py``): it prints the URL it
listens on, then a line per delivery whose ``X-Runner-Signature`` is right (answered 204)
and refuses any other with 401. ``SERVICE_WEBHOOK_SECRET`` is the secret the service signs
with (the default is ``examples/service.py``'s); ``--port`` picks the port (default: a
free one).

The check, as any receiver does it: the header is ``t=<unix seconds>,v1=<hex>``, and
``v1`` is the HMAC-SHA256 of ``"<t>." + body`` under the secret; a receiver that keeps the
``Idempotency-Key`` of what it handled can drop a delivery it already had (webhooks come at
least once). A receiver should also refuse a ``t`` far from its own clock (a replay).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.server
import json
import os
import time

SECRET = os.environ.get("SERVICE_WEBHOOK_SECRET", "dev-webhook-secret-change-me").encode()
TOLERANCE = 300  # seconds between the signature's time and ours


def verified(header: str, body: bytes) -> bool:
    """Whether ``header`` (``X-Runner-Signature``) signs ``body`` under ``SECRET``, lately."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        sent = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = hmac.new(SECRET, f"{sent}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - sent) <= TOLERANCE and hmac.compare_digest(expected, parts["v1"])


SEEN: set[str] = set()  # the idempotency keys handled (a real receiver stores them)


class Receive(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # a health check: the receiver is up
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not verified(self.headers.get("X-Runner-Signature", ""), body):
            self.send_response(401)
            self.end_headers()
            return
        key = self.headers.get("Idempotency-Key", "")
        if key not in SEEN:  # a delivery seen before is answered, not handled again
            SEEN.add(key)
            event = json.loads(body)
            run = event["run"]
            print(f"verified {event['type']}: {run['workflow']} {run['status']}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Receive)
    print(f"http://127.0.0.1:{server.server_address[1]}/hook", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
