"""The grid pack's source keeps the conformance contract: valid readings of the edge's tenant and
plant, nothing lost and nothing stored twice when the edge dies before its PUBACKs; and each
breaker message is kept, byte for byte, for the stream, under its ``event_type`` reading's id.

``grid_source_case`` is the source's case for ``tests/conformance/test_sources.py``."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edgetwin.core.plugins import PluginContext
from edgetwin.core.point import parse_point
from edgetwin.core.settings import MqttTarget
from edgetwin.edge.alerts import Alerts
from edgetwin.edge.buffer import SqliteBuffer
from edgetwin.packs.grid import messages
from edgetwin.packs.grid.device_types import SMART_BREAKER
from edgetwin.packs.grid.model import BreakerParams
from edgetwin.packs.grid.sim import BreakerDevice
from edgetwin.packs.grid.source import GridSource, GridSourceConfig, message_id
from edgetwin.streams.kept import KeptMessages, kept_path
from tests.conftest import need, port_open

BROKER = ("127.0.0.1", 1883)


def _publish(items: list[tuple[str, bytes]]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(*BROKER)
    client.loop_start()
    infos = [client.publish(t, p, qos=1) for t, p in items]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def _messages(device: str, seed: int) -> list[tuple[str, bytes]]:
    dev = BreakerDevice(device, BreakerParams(), random.Random(seed))
    burst = []
    for _ in range(4):
        dev.advance(0.2)
        burst.append(dev.telemetry())
    out = [(f"iot/{device}/raw", orjson.dumps(m)) for m in burst]
    out.append((f"iot/{device}/trends", orjson.dumps(messages.trends(device, "t", 0, burst))))
    ack = {"id": "cmd-1", "name": "OPEN", "ok": True}
    out.append((f"iot/{device}/status", orjson.dumps(dev.status(ack))))
    return [(f"iot/{device}/raw", b"{not json"), *out]  # refused, counted, acknowledged


async def _pump(
    source: GridSource, buf: SqliteBuffer, device: str, want: int, *, ack: bool,
    also: Callable[[], bool] = lambda: True,
) -> None:  # fmt: skip
    async def run() -> None:
        async for d in source.deliveries():
            mine = [p for p in d.points if p.machine == device]
            for p in d.points:
                assert parse_point(p.to_json()) == p
            buf.put(mine)
            if ack:
                d.ack()
            if buf.depth >= want and also():
                return

    await asyncio.wait_for(run(), 20)


async def grid_source_case(tmp_path: Path) -> None:
    need(port_open(*BROKER), "Mosquitto on 127.0.0.1:1883")
    device = f"gb-{uuid.uuid4().hex[:8]}"
    ctx = PluginContext(
        "acme", "plant-01", "edge-01", tmp_path, Alerts(),
        device_types={SMART_BREAKER.name: SMART_BREAKER},
    )  # fmt: skip
    config = GridSourceConfig(client_id=f"edgetwin-conformance-{device}")
    target = MqttTarget(host=BROKER[0], port=BROKER[1])
    items = _messages(device, 3)
    good = items[1:]
    want = sum(len(messages.channels(orjson.loads(p))) for _, p in good)
    events: list[tuple[str, str, dict[str, object]]] = []
    with SqliteBuffer(tmp_path / "b.db") as buf:
        first = GridSource("grid", config, ctx, target)
        async with first:
            assert first.client is not None
            await asyncio.wait_for(first.client.subscribed.wait(), 10)
            _publish(items)
            await _pump(first, buf, device, 1, ack=False)  # ...and the edge dies
        second = GridSource("grid", config, ctx, target)
        second.on_event = lambda line, m, e: events.append((line, m, e))
        async with second:
            await _pump(second, buf, device, want, ack=True, also=lambda: bool(events))
            await asyncio.sleep(0.3)
            assert first.rejected["malformed"] + second.rejected["malformed"] >= 1
            # as a device link: a command goes out on the breaker's own topic
            assert second.owns("grid", device)
            assert second.command_spec("grid", device, "reset_trip") is not None
        assert buf.depth == want  # every channel once, the redelivered ones recognised
        assert buf.totals["accepted"] == want
        rows = [parse_point(r.payload) for r in buf.after(0, 10_000)]
    units = {p.metric: p.unit for p in rows}
    assert units["voltage_phase_a"] == "V"
    assert units["reactive_power"] == "var"
    assert units["apparent_power"] == "VA"
    assert ("grid", device, {"type": "ack", "id": "cmd-1", "ok": True}) in events
    with KeptMessages(kept_path(tmp_path)) as kept:
        markers = [str(p.id) for p in rows if p.metric == "event_type"]
        got = kept.get(markers)
    assert len(markers) == len(good)
    subjects = {"raw": "iot.raw", "trends": "iot.trends", "status": "iot.status"}
    for topic, payload in good:
        mid = str(message_id(topic, payload))
        assert got[mid] == (subjects[topic.rsplit("/", 1)[1]], payload)  # unchanged


def jetstream_case(tmp_path: Path) -> None:
    """The ``jetstream`` sink's case for ``tests/conformance/test_sinks.py`` (``RECORD_CASES``):
    kept messages and readings through the forwarder into a real JetStream whose answers are lost
    half the time, across a restart of the edge: the stream holds every message once."""
    import nats

    from edgetwin.core.point import Point
    from edgetwin.edge.forwarder import Forwarder
    from edgetwin.edge.registry import REGISTRY
    from edgetwin.streams import server
    from edgetwin.streams.subjects import INGEST_STREAM
    from tests.chaos.proxy import FaultProxy
    from tests.conftest import free_port
    from tests.integration.test_grid_jetstream import embedded_nats

    now = datetime.now(UTC)
    markers = [
        Point.make(ts=now, tenant="acme", plant="plant-01", line="grid", machine="b-1",
                   metric="event_type", value=0, unit="enum")
        for _ in range(40)
    ]  # fmt: skip
    spec = REGISTRY["sinks"]["jetstream"]
    with embedded_nats(tmp_path / "nats") as s:
        proxy = FaultProxy(s.nats_port, free_port()).start()
        # Half the answers lost, drawn from the proxy's seeded generator: the failure path is
        # taken on every run (a 0.2 share over a handful of answers sometimes lost none).
        proxy.drop_ratio = 0.5
        url = server.servers(s)[0].replace(f":{s.nats_port}", f":{proxy.port}")
        ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts(), settings=s)
        config = spec.config(url=url, message_metric="event_type", timeout_s=0.5)
        with KeptMessages(kept_path(tmp_path)) as kept:
            kept.put([(str(p.id), "iot.raw", b'{"n":%d}' % i) for i, p in enumerate(markers)])

        async def forward(buf: SqliteBuffer, until: int) -> None:
            fwd = Forwarder(buf.outbox("stream"), spec.factory("stream", config, ctx), batch=6,
                            max_backoff_s=0.02)  # fmt: skip
            task = asyncio.create_task(fwd.run())
            try:
                for _ in range(3000):
                    if buf.depth <= until:
                        return
                    await asyncio.sleep(0.01)
                raise AssertionError(f"not done: {fwd.stats}")
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

        async def scenario() -> int:
            proxy.set_mode("drop_response")
            with SqliteBuffer(tmp_path / "b.db", sinks=("stream",)) as buf:
                buf.put(markers)
                await forward(buf, len(markers) // 2)
            with SqliteBuffer(tmp_path / "b.db", sinks=("stream",)) as buf:
                await forward(buf, 0)
            nc = await nats.connect(server.servers(s))
            info = await nc.jetstream().stream_info(INGEST_STREAM)
            await nc.close()
            return int(info.state.messages)

        try:
            stored = asyncio.run(scenario())
        finally:
            proxy.stop()
    assert proxy.dropped_responses > 0  # the failure path was taken
    assert stored == len(markers)
