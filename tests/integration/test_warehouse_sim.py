"""The warehouse's device process on a real broker: an order over the device's command topic is
answered when its motion ends, the reference's e-stop topic halts it, readings and the retained
snapshot arrive."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import orjson
import paho.mqtt.client as paho

from edgetwin.core.settings import Settings
from edgetwin.core.topics import device_command_topic, device_reply_topic, status_topic
from edgetwin.packs.warehouse.sim import ESTOP_TOPIC, WarehouseSim
from edgetwin.transport.client import MqttClient
from edgetwin.transport.mqtt import resolve_target
from tests.integration.conftest import Mosquitto

T, P = "acme", "plant-wh"


async def _scenario(settings: Settings) -> dict[str, list[dict[str, object]]]:
    sim = WarehouseSim(settings, speed=100.0, rng=random.Random(9))
    queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
    reply = device_reply_topic(T, P, "stf", "warehouse")
    status = status_topic(T, P, "warehouse")
    watch = MqttClient(resolve_target(settings), "test-warehouse-watch",
                       [reply, status, f"v1/{T}/{P}/stf/hbw/x_current", "stf/+/status"],
                       queue, persistent=False)  # fmt: skip
    seen: dict[str, list[dict[str, object]]] = {}
    async with watch:
        await asyncio.wait_for(watch.subscribed.wait(), 10)
        run = asyncio.create_task(sim.run(periods=200))
        await asyncio.sleep(0.3)

        async def until(topic: str, pred: object) -> None:
            assert callable(pred)
            while not any(pred(r) for r in seen.get(topic, [])):
                msg = await asyncio.wait_for(queue.get(), 15)
                seen.setdefault(msg.topic, []).append(orjson.loads(msg.payload))

        cmd = {"id": "w1", "name": "STORE", "args": {"slot": "C1", "flavor": "VANILLA"}}
        watch.publish(device_command_topic(T, P, "stf", "warehouse"), orjson.dumps(cmd))
        await until(reply, lambda r: r.get("id") == "w1")
        cmd = {"id": "w2", "name": "PROCESS", "args": {"slot": "C1"}}
        watch.publish(device_command_topic(T, P, "stf", "warehouse"), orjson.dumps(cmd))
        await asyncio.sleep(0.3)
        watch.publish(ESTOP_TOPIC, orjson.dumps({"by": "test"}))
        await until(reply, lambda r: r.get("id") == "w2")
        await until(status, lambda r: r.get("latched") is True)
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    return seen


def test_orders_answered_when_done_estop_on_the_reference_topic(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, tenant=T, plant=P, mqtt_url=mosquitto.url)
    seen = asyncio.run(_scenario(settings))
    answers = {r["id"]: r for r in seen[device_reply_topic(T, P, "stf", "warehouse")]}
    assert answers["w1"]["ok"] is True
    assert answers["w1"]["detail"] == {"slot": "C1", "cookie": answers["w1"]["detail"]["cookie"],  # type: ignore[index]
                                       "final_state": "RAW_DOUGH"}  # fmt: skip
    assert answers["w2"]["ok"] is False
    assert answers["w2"]["error"] == "emergency stop"
    snap = seen[status_topic(T, P, "warehouse")][-1]
    assert snap["latched_by"] == "test"
    assert snap["machine_state"] in ("Aborting", "Aborted")
    assert seen[f"v1/{T}/{P}/stf/hbw/x_current"][0]["unit"] == "A"
    assert "hbw.x" in seen["stf/hbw/status"][0]
