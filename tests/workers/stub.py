"""A stand-in for KUNA Pay on 127.0.0.1: serves invoices, can fail or hold requests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubProvider:
    def __init__(self):
        self.invoices: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        # Statuses to answer the next GETs with, first first (then the invoice).
        self.failures: list[int] = []
        # While set, GETs of an invoice wait until released (the worker is mid-task).
        self.hold = threading.Event()
        self.arrived = threading.Event()
        self.released = threading.Event()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with stub._lock:
                    stub.requests.append(("GET", self.path, dict(self.headers)))
                    failure = stub.failures.pop(0) if stub.failures else None
                    holding = stub.hold.is_set()
                    if holding:
                        stub.hold.clear()  # only the first request waits
                if holding:
                    stub.arrived.set()
                    stub.released.wait(30)
                if failure:
                    return self._answer(failure, {"errors": [{"code": "x", "message": "down"}]})
                invoice_id = self.path.rsplit("/", 1)[-1]
                data = stub.invoices.get(invoice_id)
                if data is None:
                    return self._answer(404, {"errors": [{"code": "404", "message": "none"}]})
                return self._answer(200, {"data": data})

            def _answer(self, status, payload):
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the worker that asked was killed
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reads(self, invoice_id: str) -> int:
        with self._lock:
            return sum(1 for method, path, _ in self.requests if path.endswith(invoice_id))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
