"""A stand-in for KUNA Pay's invoice API on 127.0.0.1, for the benchmarks under load.

``python -m bench.stub_provider --delay 0.1`` answers ``GET /v1/invoice/{id}`` with a
paid invoice after ``delay`` seconds, one thread per connection (HTTP/1.1 keep-alive,
as ``requests`` uses it), and prints ``port <n>`` once it listens. ``GET /stats`` tells
how many invoice reads it answered. Nothing else is served.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INVOICE = re.compile(r"^/v1/invoice/([0-9a-f-]{36})$")


def invoice_data(invoice_id: str, status: str) -> dict[str, Any]:
    """An invoice object as ``GET /v1/invoice/{id}`` answers it (amounts as strings)."""
    return {
        "id": invoice_id,
        "status": status,
        "externalOrderId": "",
        "invoiceAmount": "42.5",
        "invoiceAssetCode": "EUR",
        "paymentAmount": "42.5",
        "paymentAssetCode": "USDT",
        "createdAt": "2026-11-25T10:00:00.000Z",
        "expireAt": "2026-11-25T11:00:00.000Z",
        "completedAt": None,
        "transactions": [],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY the body, written after the headers, waits for the client's
    # delayed ACK of them: 40 ms added to every answer on Linux.
    disable_nagle_algorithm = True
    server: StubServer

    def do_GET(self) -> None:
        match = INVOICE.match(self.path)
        if self.path == "/stats":
            self._answer(200, {"reads": self.server.reads})
        elif match:
            time.sleep(self.server.delay)
            with self.server.lock:
                self.server.reads += 1
            self._answer(200, {"data": invoice_data(match.group(1), self.server.status)})
        else:
            self._answer(404, {"errors": [{"code": "NOT_FOUND", "message": self.path}]})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet under load
        pass


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (a worker stopped mid-read) is no news here

    def __init__(self, delay: float, status: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.delay = delay
        self.status = status
        self.reads = 0
        self.lock = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--status", default="PAID", help="the status every invoice has")
    args = parser.parse_args()
    server = StubServer(args.delay, args.status)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
