"""The ``warehouse_link`` source's conformance case: a device link that yields no readings of
its own (the plant's MQTT source takes the controller's readings and answers). Its contract is
the link's: it yields nothing, owns exactly the controller, gives the router the controller's
command specs, and hands a command to the controller's device command topic once."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edgetwin.core.plugins import PluginContext
from edgetwin.core.settings import load_settings
from edgetwin.core.topics import device_command_topic
from edgetwin.edge.alerts import Alerts
from edgetwin.packs.warehouse.device_types import CONTROLLER, LINE
from edgetwin.packs.warehouse.link import WarehouseLink, WarehouseLinkConfig
from tests.conftest import need, port_open

BROKER = ("127.0.0.1", 1883)


async def warehouse_link_case(tmp_path: Path) -> None:
    need(port_open(*BROKER), "Mosquitto on 127.0.0.1:1883")
    tenant = f"conf-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        data_dir=tmp_path, mqtt_url=f"mqtt://{BROKER[0]}:{BROKER[1]}", tenant=tenant
    )
    ctx = PluginContext(tenant, "plant-01", "edge-01", tmp_path, Alerts(), settings=settings)
    topic = device_command_topic(tenant, "plant-01", LINE, CONTROLLER)
    got: list[bytes] = []
    subscribed = threading.Event()
    watcher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{tenant}")
    watcher.on_message = lambda _c, _u, msg: got.append(bytes(msg.payload))
    watcher.on_subscribe = lambda *_a: subscribed.set()
    watcher.connect(*BROKER)
    watcher.loop_start()
    watcher.subscribe(topic, qos=1)
    assert subscribed.wait(10)
    try:
        link = WarehouseLink("warehouse", WarehouseLinkConfig(), ctx)
        async with link:
            assert link.client is not None
            await asyncio.wait_for(link.client.connected.wait(), 10)
            deliveries = link.deliveries()
            try:  # no readings of its own, ever
                await asyncio.wait_for(anext(deliveries), 1.0)
                raise AssertionError("warehouse_link yielded a delivery")
            except TimeoutError:
                pass
            assert link.owns(LINE, CONTROLLER)
            assert not link.owns(LINE, "other-machine")
            spec = link.command_spec(LINE, CONTROLLER, "store")
            assert spec is not None
            assert spec.name == "STORE"
            assert link.command_spec("line-01", "cnc-01", "STORE") is None
            command = {"id": str(uuid.uuid4()), "name": "STORE", "args": {}}
            await link.send(LINE, CONTROLLER, command)
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # a second copy would arrive by now
            assert [orjson.loads(p) for p in got] == [command]
            assert link.stats()["sent"] == 1
    finally:
        watcher.disconnect()
        watcher.loop_stop()
