"""HTTP targets of our own for the sink conformance suite: each commits (counts) the ids of a
batch, and can fail before committing or lose its answer after committing."""

from __future__ import annotations

import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class FlakyTarget:
    """Counts every id it commits; ``fail`` of requests answer 503 before committing, ``lose``
    of them commit and then drop the connection without an answer."""

    def __init__(self, answer: Any, *, seed: int, fail: float = 0.15, lose: float = 0.1) -> None:
        self.answer = answer  # (ids, fresh) -> (status, body)
        self.rng = random.Random(seed)
        self.fail, self.lose = fail, lose
        self.commits: Counter[str] = Counter()
        self.lost_answers = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                ids = [item["id"] for item in orjson.loads(body)]
                with target.lock:
                    roll = target.rng.random()
                    if roll < target.fail:
                        status, out = 503, b'{"detail": "down"}'
                    else:
                        fresh = sum(1 for i in ids if i not in target.commits)
                        target.commits.update(ids)
                        if roll < target.fail + target.lose:
                            target.lost_answers += 1
                            self.close_connection = True
                            self.connection.close()  # committed, but the answer is lost
                            return
                        status, out = target.answer(ids, fresh)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_args: object) -> None:
                return

        return Handler

    def __enter__(self) -> FlakyTarget:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def cloud_answer(ids: list[str], fresh: int) -> tuple[int, bytes]:
    """What the cloud's ingest answers: counts of accepted and duplicate readings."""
    return 200, orjson.dumps({"accepted": fresh, "duplicate": len(ids) - fresh})


def webhook_answer(_ids: list[str], _fresh: int) -> tuple[int, bytes]:
    return 204, b""
