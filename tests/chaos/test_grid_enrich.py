"""kill -9 of enrichers under load, counted by message id: every raw message is on
``iot.enriched`` and on ``iot.smart_breaker.enriched`` exactly once. Two enricher processes share
the durable consumer; one of them is killed at seeded random moments and started again.

The normal suite runs 400 messages with 2 kills; ``EDGETWIN_CHAOS_LONG=1`` 12,000 with 12."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import nats
import orjson
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from edgetwin.core.settings import Settings
from edgetwin.packs.grid.device_types import SMART_BREAKER
from edgetwin.packs.grid.model import BreakerParams
from edgetwin.packs.grid.sim import BreakerDevice
from edgetwin.streams import server
from edgetwin.streams.registry import seed
from edgetwin.streams.setup import ensure_registry, ensure_streams
from edgetwin.streams.subjects import ENRICHED_STREAM, ENRICHER_DURABLE, INGEST_STREAM, RAW
from tests.integration.test_grid_jetstream import embedded_nats

LONG = os.environ.get("EDGETWIN_CHAOS_LONG") == "1"
N, RATE, KILLS = (12_000, 300, 12) if LONG else (400, 100, 2)


def _enricher(s: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EDGETWIN_DATA_DIR": str(s.data_dir),
           "EDGETWIN_NATS_PORT": str(s.nats_port), "EDGETWIN_PACKS": "motor",
           "EDGETWIN_NATS_URL": "", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    env.pop("EDGETWIN_NATS_URL")
    return subprocess.Popen(
        [sys.executable, "-m", "edgetwin", "enrich", "--batch", "20"],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


async def _prepare(s: Settings) -> None:
    nc = await nats.connect(server.servers(s))
    js = nc.jetstream()
    await ensure_streams(js, s)
    await seed(await ensure_registry(js), [SMART_BREAKER])
    # the durable consumer with a short ack wait: what a killed enricher held comes back soon
    await js.add_consumer(INGEST_STREAM, ConsumerConfig(
        durable_name=ENRICHER_DURABLE, ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL, ack_wait=2.0, filter_subject=RAW,
        max_ack_pending=10_000,
    ))  # fmt: skip
    await nc.close()


async def _publish(s: Settings, procs: list[subprocess.Popen[bytes]], log: Path) -> int:
    rng = random.Random(42)
    kill_at = sorted(rng.sample(range(N // 10, N - N // 10), KILLS))
    dev = BreakerDevice("breaker-001", BreakerParams(), random.Random(1))
    body = dev.telemetry()
    nc = await nats.connect(server.servers(s))
    js = nc.jetstream()
    kills = 0
    start = time.monotonic()
    for i in range(N):
        body["timestamp"] = f"2026-01-01T00:00:{i % 60:02d}Z"
        await js.publish(RAW, orjson.dumps(body), headers={"Nats-Msg-Id": f"m-{i}"})
        if kill_at and i == kill_at[0]:
            kill_at.pop(0)
            victim = rng.randrange(len(procs))
            os.killpg(procs[victim].pid, signal.SIGKILL)
            procs[victim].wait()
            procs[victim] = _enricher(s, log)
            kills += 1
        await asyncio.sleep(max(0.0, start + (i + 1) / RATE - time.monotonic()))
    await nc.close()
    return kills


async def _count(s: Settings, limit_s: float) -> dict[str, Counter[str]]:
    """Every enriched message by subject and source id, once both subjects hold N."""
    nc = await nats.connect(server.servers(s))
    js = nc.jetstream()
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        info = await js.stream_info(ENRICHED_STREAM, subjects_filter=">")
        subjects = info.state.subjects or {}
        if all(subjects.get(k, 0) >= N for k in ("iot.enriched", "iot.smart_breaker.enriched")):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(3.0)  # a late duplicate (after an ack wait) would be stored by now
    sub = await js.pull_subscribe(">", stream=ENRICHED_STREAM)
    counts: dict[str, Counter[str]] = {}
    while True:
        try:
            msgs = await sub.fetch(500, timeout=1.0)
        except nats.errors.TimeoutError:
            break
        for m in msgs:
            source = orjson.loads(m.data)["enrichment_info"]["source_message_id"]
            counts.setdefault(m.subject, Counter())[source] += 1
            await m.ack()
    await nc.close()
    return counts


def test_enrichers_killed_under_load_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    log = tmp_path / "enrich.log"
    with embedded_nats(tmp_path / "d") as s:
        asyncio.run(_prepare(s))
        procs = [_enricher(s, log), _enricher(s, log)]
        try:
            kills = asyncio.run(_publish(s, procs, log))
            counts = asyncio.run(_count(s, 60.0 if not LONG else 300.0))
        finally:
            for p in procs:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)
    want = {f"m-{i}" for i in range(N)}
    assert kills == KILLS
    for subject in ("iot.enriched", "iot.smart_breaker.enriched"):
        got = counts.get(subject, Counter())
        assert set(got) == want, (
            f"{subject}: {len(want - set(got))} lost; log: {log.read_text()[-2000:]}"
        )
        assert max(got.values()) == 1, (
            f"{subject}: duplicated {[k for k, v in got.items() if v > 1][:5]}"
        )
