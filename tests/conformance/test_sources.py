"""Every registered source: its deliveries hold valid readings of the edge's tenant and plant,
and an MQTT delivery left unacknowledged when the edge dies is delivered again, so nothing is
lost, and the buffer recognises what it already holds, so nothing is stored twice."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgetwin.core.plugins import Delivery, PluginContext, Source
from edgetwin.core.point import parse_point
from edgetwin.core.settings import MqttTarget
from edgetwin.core.topics import reading_topic
from edgetwin.edge.alerts import Alerts
from edgetwin.edge.buffer import SqliteBuffer
from edgetwin.edge.registry import REGISTRY
from edgetwin.edge.sources.mqtt import MqttSource, MqttSourceConfig
from edgetwin.edge.sources.serial import SerialSource, SerialSourceConfig
from edgetwin.packs import register_plugins
from edgetwin.packs.motor.device_types import MOTOR
from tests.conformance.grid_cases import grid_source_case
from tests.conformance.warehouse_case import warehouse_link_case
from tests.conftest import need, port_open
from tests.unit.test_buffer import _points

BROKER = ("127.0.0.1", 1883)


def _ctx(tmp_path: Path, tenant: str) -> PluginContext:
    return PluginContext(
        tenant, "plant-01", "edge-01", tmp_path, Alerts(), device_types={MOTOR.name: MOTOR}
    )


def _check(delivery: Delivery, ctx: PluginContext) -> None:
    """The contract every source keeps for every delivery."""
    assert delivery.points, "a delivery carries readings"
    if delivery.raw is not None:
        assert len(delivery.raw) == len(delivery.points)
        for point, raw in zip(delivery.points, delivery.raw, strict=True):
            assert parse_point(raw) == point  # the kept wire form is the reading itself
    for point in delivery.points:
        assert (point.tenant, point.plant) == (ctx.tenant, ctx.plant)
        assert parse_point(point.to_json()).to_json() == point.to_json()


async def _collect(
    source: Source, buf: SqliteBuffer, ctx: PluginContext, until: Callable[[], bool],
    *, ack: bool = True, limit_s: float = 20,
) -> int:  # fmt: skip
    """Commit deliveries to ``buf`` (acking after the commit, if ``ack``) until ``until()``."""
    seen = 0

    async def pump() -> None:
        nonlocal seen
        async for delivery in source.deliveries():
            _check(delivery, ctx)
            buf.put(delivery.points)
            seen += len(delivery.points)
            if ack:
                delivery.ack()
            if until():
                return

    await asyncio.wait_for(pump(), limit_s)
    return seen


async def mqtt_case(tmp_path: Path) -> None:
    need(port_open(*BROKER), "Mosquitto on 127.0.0.1:1883")
    tenant = f"conf-{uuid.uuid4().hex[:8]}"
    ctx = _ctx(tmp_path, tenant)
    target = MqttTarget(host=BROKER[0], port=BROKER[1])
    config = MqttSourceConfig(client_id=f"edgetwin-conformance-{tenant}")
    points = [p.model_copy(update={"tenant": tenant}) for p in _points(4, seed=9)]
    want = {str(p.id) for p in points}
    with SqliteBuffer(tmp_path / "b.db") as buf:
        # The first run subscribes (the persistent session starts queueing), commits what it
        # gets without acknowledging it, and dies.
        first = MqttSource("plant", config, ctx, target)
        async with first:
            await asyncio.wait_for(first.ready.wait(), 10)
            _publish(points)
            # (a broker sends at most its inflight window, e.g. 20, until acks come)
            await _collect(first, buf, ctx, lambda: buf.depth >= 10, ack=False)
        held = buf.depth
        assert held > 0
        # The next run gets the unacknowledged ones again: recognised, not stored twice.
        second = MqttSource("plant", config, ctx, target)
        async with second:
            await _collect(second, buf, ctx, lambda: buf.depth == len(points))
            await asyncio.sleep(0.5)  # anything more would be a duplicate: let it show
            while not second.queue.empty():
                await _collect(second, buf, ctx, lambda: second.queue.empty(), limit_s=5)
        assert buf.depth == len(points)
        assert {parse_point(r.payload).id.hex for r in buf.after(0, 10_000)} == {
            uuid.UUID(i).hex for i in want
        }
        assert buf.totals["accepted"] == len(points)


def _publish(points: list) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(*BROKER)
    client.loop_start()
    infos = [
        client.publish(
            reading_topic(p.tenant, p.plant, p.line, p.machine, p.metric), p.to_json(), qos=1
        )
        for p in points
    ]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


async def serial_case(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "acme")
    master, slave = os.openpty()
    config = SerialSourceConfig(path=os.ttyname(slave), line="line-m", device_type=MOTOR.name)
    source = SerialSource.from_config("motor", config, ctx)
    line = {"device_id": "STM32-MOTOR-01", "seq": 1, "uptime": 1.0, "temperature": 45.1,
            "vibration": 0.2, "status": "RUNNING"}  # fmt: skip
    with SqliteBuffer(tmp_path / "b.db") as buf:
        async with source:
            await asyncio.wait_for(source.connected.wait(), 10)
            for i in range(5):
                os.write(master, orjson.dumps({**line, "seq": i + 1}) + b"\n")
            await _collect(source, buf, ctx, lambda: buf.depth == 5 * len(MOTOR.metrics))
            # and as a device link, it writes the command down the line
            assert source.owns("line-m", "stm32-motor-01")
            await source.send("line-m", "stm32-motor-01", {"id": "c1", "name": "PING"})
            written = await asyncio.to_thread(os.read, master, 4096)
            assert orjson.loads(written.splitlines()[0]) == {"id": "c1", "name": "PING"}
    os.close(master)
    os.close(slave)


async def dropfolder_case(tmp_path: Path) -> None:
    """Files delivered and not acknowledged (the edge died) come again with the same ids."""
    from edgetwin.edge.sources.dropfolder import DropFolderSource
    from edgetwin.packs.cmm import sim
    from tests.integration.cmm_pump import config

    ctx = _ctx(tmp_path, "acme")
    inbox = tmp_path / "inbox"
    await sim.run(inbox, speed=1e9, count=4, seed=5)
    with SqliteBuffer(tmp_path / "b.db") as buf:
        async with DropFolderSource("cmm", config(inbox, settle_s=0.1), ctx) as first:
            await _collect(first, buf, ctx, lambda: buf.depth >= 6, ack=False)
        assert len(list(inbox.glob("*.csv"))) == 4  # nothing moved before its ack
        async with DropFolderSource("cmm", config(inbox, settle_s=0.1), ctx) as second:
            await _collect(second, buf, ctx, lambda: not any(inbox.glob("*.csv")))
        assert buf.depth == 4 * 3
        assert buf.totals["accepted"] == 4 * 3


CASES: dict[str, Callable[[Path], Awaitable[None]]] = {
    "dropfolder": dropfolder_case,
    "grid_mqtt": grid_source_case,
    "mqtt": mqtt_case,
    "serial": serial_case,
    "warehouse_link": warehouse_link_case,
}


def test_every_registered_source_has_a_conformance_case() -> None:
    register_plugins()  # the packs' own plugins too
    assert set(REGISTRY["sources"]) == set(CASES)


@pytest.mark.parametrize("type_", sorted(CASES))
def test_source_conformance(tmp_path: Path, type_: str) -> None:
    asyncio.run(CASES[type_](tmp_path))
