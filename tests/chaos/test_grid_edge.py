"""kill -9 of the edge (and of an enricher) while breakers publish, counted by message id: every
message the broker confirmed is on ``iot.raw`` once and on ``iot.enriched`` and
``iot.smart_breaker.enriched`` once, enriched.

Real processes: a Mosquitto of the test's own, our embedded NATS server, ``edgetwin edge`` with
the grid pack (its grid_mqtt source and jetstream sink; the cloud is absent, its outbox simply
waits) and ``edgetwin enrich``. The normal suite runs 240 messages with 2 edge kills and 1
enricher kill; ``EDGETWIN_CHAOS_LONG=1`` ~6,000 with 8 and 4."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import nats
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edgetwin.core.settings import Settings
from edgetwin.packs.grid.model import BreakerParams
from edgetwin.packs.grid.sim import BreakerDevice
from edgetwin.packs.grid.source import message_id
from edgetwin.streams import server
from edgetwin.streams.subjects import ENRICHED_STREAM, INGEST_STREAM
from tests.chaos.test_grid_enrich import _prepare
from tests.conftest import free_port, need, port_open
from tests.integration.test_grid_jetstream import embedded_nats

LONG = os.environ.get("EDGETWIN_CHAOS_LONG") == "1"
SECONDS, RATE, EDGE_KILLS, ENRICHER_KILLS = (60, 100, 8, 4) if LONG else (4, 60, 2, 1)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgetwin", *args], env=env, stdout=log.open("ab"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _kill(p: subprocess.Popen[bytes]) -> None:
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def _env(s: Settings, mqtt_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
    return {**env, "EDGETWIN_DATA_DIR": str(s.data_dir), "EDGETWIN_NATS_PORT": str(s.nats_port),
            "EDGETWIN_PACKS": "grid", "EDGETWIN_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
            "EDGETWIN_CLOUD_URL": "http://127.0.0.1:1", "EDGETWIN_EDGE_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1"}  # fmt: skip


def _publish(mqtt_port: int, procs: dict[str, subprocess.Popen[bytes]], env: dict[str, str],
             log: Path) -> set[str]:  # fmt: skip
    """Publish for SECONDS at RATE, killing parts at seeded moments; the ids the broker took."""
    rng = random.Random(7)
    n = SECONDS * RATE
    kills = sorted([(i, "edge") for i in rng.sample(range(n // 10, n - n // 10), EDGE_KILLS)]
                   + [(i, "enrich") for i in rng.sample(range(n // 10, n - n // 10),
                                                        ENRICHER_KILLS)])  # fmt: skip
    devices = [BreakerDevice(f"cb-{uuid.uuid4().hex[:6]}", BreakerParams(), random.Random(i))
               for i in range(3)]  # fmt: skip
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    sent: list[tuple[str, paho.MQTTMessageInfo]] = []
    start = time.monotonic()
    for i in range(n):
        dev = devices[i % 3]
        dev.advance(0.2)
        topic = f"iot/{dev.device_id}/raw"
        payload = orjson.dumps(dev.telemetry())
        sent.append((str(message_id(topic, payload)), client.publish(topic, payload, qos=1)))
        while kills and kills[0][0] == i:
            _, part = kills.pop(0)
            _kill(procs[part])
            args = ["edge"] if part == "edge" else ["enrich", "--batch", "20"]
            procs[part] = _start(args, env, log)
        time.sleep(max(0.0, start + (i + 1) / RATE - time.monotonic()))
    for _, info in sent:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()
    return {mid for mid, info in sent if info.is_published()}


async def _count(s: Settings, want: int, limit_s: float) -> dict[str, Counter[str]]:
    nc = await nats.connect(server.servers(s))
    js = nc.jetstream()
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        info = await js.stream_info(ENRICHED_STREAM, subjects_filter=">")
        if min((info.state.subjects or {}).get(k, 0)
               for k in ("iot.enriched", "iot.smart_breaker.enriched")) >= want:  # fmt: skip
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2.5)  # a late duplicate (after the 2 s ack wait) would be stored by now
    counts: dict[str, Counter[str]] = {}
    for stream in (INGEST_STREAM, ENRICHED_STREAM):
        sub = await js.pull_subscribe(">", stream=stream)
        while True:
            try:
                msgs = await sub.fetch(500, timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            for m in msgs:
                if stream == INGEST_STREAM:
                    source = m.headers["Nats-Msg-Id"]
                else:
                    source = orjson.loads(m.data)["enrichment_info"]["source_message_id"]
                counts.setdefault(m.subject, Counter())[source] += 1
                await m.ack()
    await nc.close()
    return counts


def test_edge_and_enricher_killed_under_load_lose_nothing_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    need(shutil.which("mosquitto") is not None, "Mosquitto is not installed")
    mqtt_port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 100000\npersistence false\n")  # fmt: skip
    log = tmp_path / "parts.log"
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log.open("ab"),
                              stderr=subprocess.STDOUT)  # fmt: skip
    try:
        with embedded_nats(tmp_path / "d") as s:
            end = time.monotonic() + 10
            while not port_open("127.0.0.1", mqtt_port) and time.monotonic() < end:
                time.sleep(0.05)
            env = _env(s, mqtt_port)
            asyncio.run(_prepare(s))  # the streams, and the enrichers' consumer (short ack wait)
            procs = {"edge": _start(["edge"], env, log),
                     "enrich": _start(["enrich", "--batch", "20"], env, log)}  # fmt: skip
            try:
                ready = s.data_dir / "run" / f"{s.edge_id}.ready"
                end = time.monotonic() + 20
                while not ready.exists() and time.monotonic() < end:
                    time.sleep(0.05)  # the edge subscribed: its persistent session queues now
                confirmed = _publish(mqtt_port, procs, env, log)
                counts = asyncio.run(_count(s, len(confirmed), 60.0 if not LONG else 240.0))
            finally:
                for p in procs.values():
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(10)
    finally:
        broker.terminate()
        broker.wait(10)
    tail = log.read_text(errors="replace")[-3000:]
    assert len(confirmed) == SECONDS * RATE
    for subject in ("iot.raw", "iot.enriched", "iot.smart_breaker.enriched"):
        got = counts.get(subject, Counter())
        lost = confirmed - set(got)
        assert not lost, f"{subject}: {len(lost)} of {len(confirmed)} lost\n{tail}"
        twice = [k for k, v in got.items() if v > 1]
        assert not twice, f"{subject}: {len(twice)} stored twice\n{tail}"
