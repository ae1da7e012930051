"""``edgetwin sim mes``: a mock MES that stores the CMM's quality records, once each.

``POST /api/v1/cmm/measurements`` with an ``Idempotency-Key`` header stores the JSON record
unless the key is known (then it answers ``{"status": "duplicate"}``), after the reference's
latency U(0.05, 0.2) s. ``GET /api/v1/cmm/measurements`` returns what it holds, in arrival order.
``POST /control`` ``{"mode": ...}`` switches it: ``ok``; ``down`` (connections are closed without
an answer); ``slow`` (2-4 s per answer); ``500`` (answers 500 without storing); ``422`` (refuses every
record as invalid); ``hang`` (never answers). It listens on loopback, on the port of the MES URL
the edge's MES sink is given (:func:`~edgetwin.packs.cmm.mes.configured_mes_url`: the
``mes_url`` setting, ``EDGETWIN_MES_URL``, or port ``EDGETWIN_MES_PORT``, default 8700).
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import orjson

from edgetwin.packs.cmm.mes import DEFAULT_PORT, configured_mes_url

PATH = "/api/v1/cmm/measurements"
MODES = ("ok", "down", "slow", "500", "422", "hang")


class MockMes:
    """The mock MES's state and its HTTP server (a thread per request, like a small MES)."""

    def __init__(
        self,
        port: int = 0,
        *,
        seed: int | None = None,
        fail: float = 0.0,
        lose: float = 0.0,
        latency: tuple[float, float] = (0.05, 0.2),
    ) -> None:
        """``fail``: share of records answered 503 without storing; ``lose``: share stored
        whose answer is lost (the connection closed); ``latency``: U(a, b) s per answer."""
        self.fail, self.lose, self.latency = fail, lose, latency
        self.lost_answers = 0
        self.records: list[dict[str, Any]] = []
        self.keys: set[str] = set()
        self.duplicates = 0
        self.mode = "ok"
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.1)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mes = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                return

            def _answer(self, status: int, body: Any) -> None:
                data = orjson.dumps(body)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path != PATH:
                    self._answer(404, {"detail": "not found"})
                    return
                with mes.lock:
                    body = {"records": list(mes.records), "duplicates": mes.duplicates,
                            "mode": mes.mode}  # fmt: skip
                self._answer(200, body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/control":
                    mode = orjson.loads(body).get("mode")
                    if mode not in MODES:
                        self._answer(422, {"detail": f"mode must be one of {MODES}"})
                        return
                    mes.mode = mode
                    self._answer(200, {"mode": mode})
                    return
                if self.path != PATH:
                    self._answer(404, {"detail": "not found"})
                    return
                mode = mes.mode
                if mode == "down":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if mode == "hang":
                    while mes.mode == "hang":
                        time.sleep(0.1)
                    self.close_connection = True
                    return  # the client gave up long ago
                with mes.lock:
                    roll = mes.rng.random()
                    slow = mes.rng.uniform(2.0, 4.0)
                    pause = slow if mode == "slow" else mes.rng.uniform(*mes.latency)
                time.sleep(pause)
                if mode == "500" or roll < mes.fail:
                    self._answer(500, {"detail": "internal error (switched on)"})
                    return
                key = self.headers.get("idempotency-key")
                try:
                    record = orjson.loads(body)
                except orjson.JSONDecodeError:
                    record = None
                if mode == "422":
                    self._answer(422, {"detail": "record refused (switched on)"})
                    return
                if not key or not isinstance(record, dict):
                    self._answer(422, {"detail": "an Idempotency-Key and a JSON object needed"})
                    return
                with mes.lock:
                    if key in mes.keys:
                        mes.duplicates += 1
                        self._answer(200, {"status": "duplicate"})
                        return
                    mes.keys.add(key)
                    mes.records.append({**record, "idempotency_key": key})
                    if roll < mes.fail + mes.lose:
                        mes.lost_answers += 1
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                self._answer(201, {"status": "success"})

        return Handler


def mock_port(settings: object = None) -> int:
    """The port the mock MES listens on: the configured MES URL's."""
    return urlparse(configured_mes_url(settings)).port or DEFAULT_PORT


async def simulate(settings: object) -> None:
    """Run the mock MES until cancelled."""
    mes = MockMes(mock_port(settings))
    thread = threading.Thread(target=mes.serve_forever, name="mock-mes", daemon=True)
    thread.start()
    try:
        await asyncio.Event().wait()
    finally:
        mes.server.shutdown()


if __name__ == "__main__":
    import sys

    server = MockMes(int(sys.argv[1]) if len(sys.argv) > 1 else 8700)
    print(f"mock MES on {server.url}", flush=True)
    server.serve_forever()
