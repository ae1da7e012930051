"""Throughput of the stream backbone, measured side by side in one run.

:func:`measure` starts its own embedded NATS servers (the ``nats-server`` of the wheel, in a
scratch folder, on free ports) and reports, for the same messages (a breaker's telemetry,
~1.1 KB):

- ``publish_per_s``: raw JetStream publishes, each with a ``Nats-Msg-Id`` and awaited for its
  acknowledgement (windows of 256 in flight), with ``sync_interval: always`` (edgetwin's
  setting) and with JetStream's default (``interval``: fsync every 2 minutes): the cost of the
  choice;
- ``consume_per_s``: a durable pull consumer fetching and acknowledging them;
- ``enrich_per_s``: one enricher (:class:`~edgetwin.streams.enrich.Enricher`) taking them from
  ``iot.raw`` to both enriched subjects, input acknowledged after both copies;
- ``enrich_ratio``: enrichment over the raw publish+consume of the same messages (each
  enrichment is one consume and two publishes, so ~0.33-0.5 is the ceiling).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from edgetwin.core.settings import Settings, load_settings
from edgetwin.streams import server
from edgetwin.streams.enrich import Enricher
from edgetwin.streams.registry import RegistryCache
from edgetwin.streams.setup import ensure_streams
from edgetwin.streams.subjects import ENRICHED_STREAM, ENRICHER_DURABLE, INGEST_STREAM, RAW

WINDOW = 256


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def _server(root: Path, sync: str) -> AsyncIterator[Settings]:
    s = load_settings(data_dir=root / sync, nats_port=_free_port(), nats_sync=sync)
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any measuring
        server.prepare(s), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", s.nats_port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            w.close()
            break
        yield s
    finally:
        proc.terminate()
        proc.wait(10)


def _body() -> bytes:
    """A device message of a breaker's size and shape (~1 KB of nested measurements)."""
    rng = random.Random(1)
    groups = {
        g: {k: round(rng.uniform(0, 200), 2) for k in ("phase_a", "phase_b", "phase_c")}
        for g in ("voltage", "current", "power_factor")
    }
    extra = {f"m{i}": {"value": round(rng.uniform(0, 100), 3), "unit": "u"} for i in range(12)}
    return orjson.dumps({
        "device_id": "device-001", "device_type": "bench_device",
        "timestamp": "2026-01-01T00:00:00.000000Z", "event_type": "telemetry",
        "measurements": {**groups, **extra},
    })  # fmt: skip


async def _publish(js: Any, subject: str, body: bytes, n: int, prefix: str) -> float:
    start = time.perf_counter()
    for i in range(0, n, WINDOW):
        await asyncio.gather(*(
            js.publish(subject, body, headers={"Nats-Msg-Id": f"{prefix}-{j}"})
            for j in range(i, min(n, i + WINDOW))
        ))  # fmt: skip
    return n / (time.perf_counter() - start)


async def _raw(s: Settings, body: bytes, n: int) -> tuple[float, float]:
    nc = await nats.connect(server.servers(s))
    js = nc.jetstream(timeout=10.0)
    await js.add_stream(StreamConfig(name="BENCH", subjects=["bench.raw"], duplicate_window=600))
    pub = await _publish(js, "bench.raw", body, n, "b")
    sub = await js.pull_subscribe("bench.raw", durable="bench", stream="BENCH",
                                  config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT,
                                                        deliver_policy=DeliverPolicy.ALL))  # fmt: skip
    start, got = time.perf_counter(), 0
    while got < n:
        msgs = await sub.fetch(min(500, n - got), timeout=5.0)
        await asyncio.gather(*(m.ack() for m in msgs))
        got += len(msgs)
    consume = n / (time.perf_counter() - start)
    await nc.close()
    return pub, consume


async def _enrich(s: Settings, body: bytes, n: int) -> float:
    nc = await nats.connect(server.servers(s))
    js = nc.jetstream(timeout=10.0)
    await ensure_streams(js, s)
    await _publish(js, RAW, body, n, "e")
    enricher = Enricher(js, RegistryCache(), batch=200)
    task = asyncio.create_task(enricher.run())
    start = time.perf_counter()
    while enricher.enriched < n:
        await asyncio.sleep(0.01)
        if time.perf_counter() - start > 120:
            break
    rate = enricher.enriched / (time.perf_counter() - start)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    info = await js.stream_info(ENRICHED_STREAM)
    assert info.state.messages == 2 * enricher.enriched, "an enriched copy is missing"
    await js.delete_consumer(INGEST_STREAM, ENRICHER_DURABLE)
    await nc.close()
    return rate


async def _measure(n: int) -> dict[str, Any]:
    body = _body()
    out: dict[str, Any] = {"messages": n, "message_bytes": len(body)}
    with tempfile.TemporaryDirectory(prefix="edgetwin-nats-bench-") as tmp:
        root = Path(tmp)
        async with _server(root, "interval") as s:
            out["publish_per_s_interval"], _ = await _raw(s, body, n)
        async with _server(root, "always") as s:
            out["publish_per_s"], out["consume_per_s"] = await _raw(s, body, n)
            out["enrich_per_s"] = await _enrich(s, body, n)
    raw = 1.0 / (1.0 / out["publish_per_s"] + 1.0 / out["consume_per_s"])
    out["raw_publish_consume_per_s"] = raw
    out["enrich_ratio"] = out["enrich_per_s"] / raw
    out["sync_always_cost"] = 1.0 - out["publish_per_s"] / out["publish_per_s_interval"]
    return out


def measure(n: int = 5000) -> dict[str, Any]:
    """Run the measurement (blocking; tens of seconds at the default ``n``); see the module's
    docstring for the keys. Raises ConfigError when no nats-server is installed."""
    return asyncio.run(_measure(n))
