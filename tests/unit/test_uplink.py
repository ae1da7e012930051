"""The cloud sink and its forwarder against a cloud of our own making that answers late, out of order, fails, and
loses answers after committing: every buffered reading must reach it, and the buffer empties."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from edgetwin.edge.buffer import SqliteBuffer
from edgetwin.edge.forwarder import Forwarder
from edgetwin.edge.sinks.cloud import CloudSink
from tests.unit.test_buffer import _points


class FlakyCloud:
    """Ingest that commits (counts) ids; some requests fail before, some lose the answer after."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.commits: Counter[str] = Counter()
        self.historical: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.failed_before = 0
        self.lost_answers = 0
        self.on_the_wire: set[str] = set()
        self.overlaps = 0  # a reading in two requests at once: the window would be wrong

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        ids = {i["id"] for i in orjson.loads(request.content)}
        self.overlaps += len(ids & self.on_the_wire)
        self.on_the_wire |= ids
        try:
            await asyncio.sleep(self.rng.uniform(0, 0.01))  # answers come back out of order
            roll = self.rng.random()
            if roll < 0.1:
                self.failed_before += 1
                return httpx.Response(503, json={"detail": "store unavailable"})
            items = orjson.loads(request.content)
            fresh = [i["id"] for i in items if i["id"] not in self.commits]
            self.commits.update(i["id"] for i in items)
            if request.url.params["historical"] == "true":
                self.historical.update(i["id"] for i in items)
            if roll < 0.2:
                self.lost_answers += 1
                raise httpx.ReadError("connection reset after the commit")
            return httpx.Response(
                200, json={"accepted": len(fresh), "duplicate": len(items) - len(fresh)}
            )
        finally:
            self.in_flight -= 1
            self.on_the_wire -= ids


async def _drained(buf: SqliteBuffer, task: asyncio.Task[None]) -> None:
    """Wait until the uplink emptied the buffer (20 s at most), then stop it."""
    for _ in range(2000):
        if buf.depth == 0:
            break
        await asyncio.sleep(0.01)
    task.cancel()


def _uplink(buf: SqliteBuffer, urls: str | list[str], handler: Any, **kw: Any) -> Forwarder:
    transport = httpx.MockTransport(handler)
    window = kw.get("window", 3)
    urls = [urls] if isinstance(urls, str) else urls
    sink = CloudSink("cloud", urls, "edge-01", window=window, transport=transport)
    return Forwarder(buf.outbox("cloud"), sink, max_backoff_s=0.05, **kw)


@pytest.mark.parametrize("window", [1, 3])
def test_every_reading_arrives_through_failures_and_out_of_order_answers(
    tmp_path: Path, window: int
) -> None:
    cloud = FlakyCloud(seed=window)
    backlog = _points(20, seed=1)  # buffered before the uplink starts: sent as historical
    live = _points(20, seed=2)

    async def scenario() -> None:
        with SqliteBuffer(tmp_path / "b.db") as buf:
            buf.put(backlog)
            uplink = _uplink(buf, "http://cloud.test", cloud.handle, batch=50, window=window)
            task = asyncio.create_task(uplink.run())
            for i in range(0, len(live), 54):  # live readings keep arriving while it drains
                buf.put(live[i : i + 54])
                uplink.wake.set()
                await asyncio.sleep(0.005)
            await _drained(buf, task)
            assert buf.depth == 0, "the buffer did not drain"

    asyncio.run(scenario())
    sent = {str(p.id) for p in backlog + live}
    assert set(cloud.commits) == sent  # none lost
    assert cloud.historical >= {str(p.id) for p in backlog}
    assert cloud.failed_before > 0  # the faults really happened
    assert cloud.lost_answers > 0
    assert cloud.max_in_flight <= window
    assert cloud.overlaps == 0
    if window > 1:
        assert cloud.max_in_flight > 1


def test_a_dead_ingest_worker_sends_the_uplink_to_the_next(tmp_path: Path) -> None:
    stored: Counter[str] = Counter()
    calls: Counter[str] = Counter()

    async def handle(request: httpx.Request) -> httpx.Response:
        calls[request.url.host] += 1
        if request.url.host == "worker-a.test":
            raise httpx.ConnectError("connection refused")  # killed
        items = orjson.loads(request.content)
        stored.update(i["id"] for i in items)
        return httpx.Response(200, json={"accepted": len(items), "duplicate": 0})

    points = _points(10, seed=3)

    async def scenario() -> str:
        with SqliteBuffer(tmp_path / "b.db") as buf:
            buf.put(points)
            workers = ["http://worker-a.test", "http://worker-b.test"]
            uplink = _uplink(buf, workers, handle, batch=100)
            task = asyncio.create_task(uplink.run())
            await _drained(buf, task)
            assert buf.depth == 0
            return uplink.sink.url  # type: ignore[attr-defined]

    assert asyncio.run(scenario()) == "http://worker-b.test/api/v1/ingest"
    assert set(stored) == {str(p.id) for p in points}
    assert calls["worker-a.test"] >= 1  # it was tried first, and left


def test_a_422_sets_the_named_items_aside_and_sends_the_rest(tmp_path: Path) -> None:
    """The cloud stores none of a request with a bad item; the edge moves the named items to
    its dead letters and sends the others again at once, without waiting for a failure."""
    stored: Counter[str] = Counter()

    def refused(item: dict[str, Any]) -> bool:  # a rule the cloud has and the edge does not
        return bool(item["machine"] == "cnc-02" and item["metric"] == "temp")

    async def handle(request: httpx.Request) -> httpx.Response:
        items = orjson.loads(request.content)
        bad = [i for i, item in enumerate(items) if refused(item)]
        if bad:
            problems = [{"index": i, "errors": ["temp of cnc-02 refused"]} for i in bad]
            return httpx.Response(422, json={"detail": {"message": "bad", "problems": problems}})
        stored.update(i["id"] for i in items)
        return httpx.Response(200, json={"accepted": len(items), "duplicate": 0})

    points = _points(10, seed=4)

    async def scenario() -> tuple[int, int]:
        with SqliteBuffer(tmp_path / "b.db") as buf:
            buf.put(points)
            uplink = _uplink(buf, "http://cloud.test", handle, batch=100)
            task = asyncio.create_task(uplink.run())
            await _drained(buf, task)
            return buf.depth, uplink.stats.failures

    depth, failures = asyncio.run(scenario())
    assert depth == 0
    assert failures == 0  # the rest went at once, not after a backoff
    good = {str(p.id) for p in points if not refused(orjson.loads(p.to_json()))}
    assert set(stored) == good
    assert len(points) - len(good) == 10  # one per cycle was refused
    dead = sqlite3.connect(tmp_path / "b.db").execute("SELECT count(*) FROM dead_letters")
    assert dead.fetchone()[0] == 10


def test_the_reported_depth_counts_what_waits_behind_the_request(tmp_path: Path) -> None:
    """The cloud shows the depth an edge reports with each batch once that batch commits, so the
    edge reports the readings still waiting, not those on their way: the last batch of a drain
    says 0, and a steady stream no longer looks like a buffer that never empties."""
    reported: list[int] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        reported.append(int(request.headers["x-edgetwin-buffer-depth"]))
        items = orjson.loads(request.content)
        await asyncio.sleep(0.005)
        return httpx.Response(200, json={"accepted": len(items), "duplicate": 0})

    points = _points(10, seed=5)

    async def scenario() -> None:
        with SqliteBuffer(tmp_path / "b.db") as buf:
            buf.put(points)
            task = asyncio.create_task(_uplink(buf, "http://cloud.test", handle, batch=50).run())
            await _drained(buf, task)

    asyncio.run(scenario())
    assert len(points) > 150  # several batches, three in flight at once
    assert reported[0] == len(points) - 50
    assert reported == sorted(reported, reverse=True)
    assert reported[-1] == 0
