"""Two sinks on one buffer: the cloud stays current while a second sink's target is down, the
edge is killed (-9) in that window, and afterwards the second sink has every reading exactly
once and the cloud too. Every reading is counted at both targets."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from tests.chaos.harness import LONG, Harness, Report
from tests.conftest import free_port
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.chaos
DOWN_S = 60.0 if LONG else 8.0


class Historian:
    """An HTTP target of our own that counts every reading id it was given; can be taken down
    (its port closed) and brought back on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ids: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with owner.lock:
                    owner.ids.update(item["id"] for item in orjson.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def historian() -> Iterator[Historian]:
    h = Historian(free_port())
    h.up()
    yield h
    h.down()


def test_a_dead_second_sink_holds_only_its_own_backlog(
    tmp_path: Path,
    harness: Callable[..., Harness],
    record: Callable[[Report], Report],
    historian: Historian,
) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(
        f'[[sinks]]\ntype = "http"\nname = "historian"\n'
        f'url = "http://127.0.0.1:{historian.port}/batches"\ntimeout_s = 2.0\n'
    )
    h = harness(edge_env={"EDGETWIN_CONFIG": str(config), "EDGETWIN_PACKS": "[]"})
    wait_for(lambda: len(historian.ids) > 100, 30, what="the historian receiving")

    historian.down()
    started = time.monotonic()
    stored_before = len(h.stored_rows())
    time.sleep(DOWN_S / 2)
    h.edge.kill9()  # inside the window: the historian's backlog must survive it
    h.start_edge()
    wait_for(lambda: len(h.stored_rows()) > stored_before + 200, 30, what="the cloud current")
    status = h.edge_status()
    assert status["sinks"]["historian"]["depth"] > 0
    assert status["sinks"]["historian"]["state"] == "failing"
    assert status["sinks"]["cloud"]["state"] == "ok"
    time.sleep(max(0.0, DOWN_S - (time.monotonic() - started)))
    historian.up()

    recovery = h.settle()
    confirmed = h.gen.confirmed()
    wait_for(
        lambda: (
            confirmed <= set(historian.ids) and h.edge_status()["sinks"]["historian"]["depth"] == 0
        ),
        60,
        what="the historian's backlog delivered",
    )
    report = record(h.report(f"second sink down {DOWN_S:.0f} s + kill -9 edge", recovery))
    assert (report.lost, report.duplicated, report.stored) == (0, 0, report.sent), report
    with historian.lock:
        got = dict(historian.ids)
    assert confirmed <= set(got)
    duplicates = {i: n for i, n in got.items() if n > 1}
    assert duplicates == {}, f"{len(duplicates)} reading(s) reached the historian twice"
    assert set(got) <= set(h.gen.sent), "the historian got readings nobody sent"
