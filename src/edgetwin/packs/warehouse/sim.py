"""The simulated warehouse as one device process: physics and controller at 10 Hz on MQTT.

- Commands from the edge on ``v1/{tenant}/{plant}/stf/warehouse/cmd/device``, answered on
  ``.../cmd/reply`` (an order when it ends). The emergency stop also comes straight from the
  cloud on ``.../cmd/estop`` (``{"by": name}``): no hop through the edge, no queue.
- On an external broker (``--mqtt-url``, the reference's Mosquitto) also the reference's topics:
  the global requests ``stf/global/req/emergency_stop`` and ``stf/global/req/reset`` in, the
  device statuses ``stf/{hbw,conveyor,vgr}/status`` out. The embedded broker's access rules
  keep every client to ``v1/...``, so there the warehouse speaks ``v1/...`` only.
- Readings of every motor and sensor once a second (wall clock) on
  ``v1/{tenant}/{plant}/stf/{machine}/{metric}``.
- The whole machine, retained, on ``v1/{tenant}/{plant}/status/warehouse``, four times a second.

``--speed N`` (or ``EDGETWIN_WAREHOUSE_SPEED``, which ``edgetwin up`` passes on) runs N ticks of
0.1 s of simulated time per 0.1 s of wall time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import paho.mqtt.client as paho

from edgetwin.core.settings import Settings
from edgetwin.core.topics import (
    device_command_topic,
    device_reply_topic,
    reading_topic,
    status_topic,
)
from edgetwin.packs.warehouse.controller import Controller
from edgetwin.packs.warehouse.device import WarehouseDevice, readings, snapshot
from edgetwin.packs.warehouse.device_types import CONTROLLER, LINE
from edgetwin.transport.client import MqttClient
from edgetwin.transport.mqtt import resolve_target

log = logging.getLogger("edgetwin.sim.warehouse")

STATUS_SOURCE = "warehouse"
SPEED_ENV = "EDGETWIN_WAREHOUSE_SPEED"
ESTOP_TOPIC = "stf/global/req/emergency_stop"
RESET_TOPIC = "stf/global/req/reset"
PERIOD_S = 0.1
STATUS_EVERY_S = 0.25
READINGS_EVERY_S = 1.0
MAX_SPEED = 1000.0


def estop_topic(tenant: str, plant: str) -> str:
    """Where the cloud presses the controller's emergency stop directly."""
    return f"{device_command_topic(tenant, plant, LINE, CONTROLLER).removesuffix('/device')}/estop"


def speed_from_env(default: float = 1.0) -> float:
    """``EDGETWIN_WAREHOUSE_SPEED`` as a number in (0, 1000]; ``default`` when unset.

    Raises:
        ValueError: set to something else.
    """
    raw = os.environ.get(SPEED_ENV)
    if raw is None or raw == "":
        return default
    value = float(raw)
    if not 0 < value <= MAX_SPEED:
        raise ValueError(f"{SPEED_ENV} must be in (0, {MAX_SPEED:g}], not {raw}")
    return value


class WarehouseSim:
    """The device process (see the module's docstring)."""

    def __init__(
        self, settings: Settings, speed: float = 1.0, rng: random.Random | None = None
    ) -> None:
        self.settings = settings
        self.speed = speed
        self.device = WarehouseDevice(Controller(rng=rng or random.Random()))
        t, p = settings.tenant, settings.plant
        self._cmd = device_command_topic(t, p, LINE, CONTROLLER)
        self._reply = device_reply_topic(t, p, LINE, CONTROLLER)
        self._status = status_topic(t, p, STATUS_SOURCE)
        self._estop = estop_topic(t, p)
        self.stf_topics = not settings.embedded_broker
        self._queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self._client: MqttClient | None = None
        self.bad_messages = 0

    def on_message(self, msg: paho.MQTTMessage) -> None:
        """One message from the broker; bad input is counted and logged, never raised."""
        try:
            body = orjson.loads(msg.payload) if msg.payload else {}
            if not isinstance(body, dict):
                raise TypeError("not a JSON object")
        except (orjson.JSONDecodeError, TypeError) as exc:
            self.bad_messages += 1
            log.warning("ignored a bad message on %s: %s", msg.topic, exc)
            return
        c = self.device.c
        if msg.topic in (ESTOP_TOPIC, self._estop):
            c.emergency_stop(str(body.get("by", "stf/global/req")))
        elif msg.topic == RESET_TOPIC:
            reason = c.reset()
            if reason:
                log.warning("reset refused: %s", reason)
        else:
            self.device.command(body)

    def step(self, ticks: int) -> None:
        """Run ``ticks`` controller ticks, collecting the orders that end."""
        for _ in range(ticks):
            self.device.c.tick()
            self.device.collect()

    def _publish_answers(self) -> None:
        assert self._client is not None
        for answer in self.device.answers:
            self._client.publish(self._reply, orjson.dumps(answer), qos=1)
        self.device.answers.clear()

    def _publish_status(self, online: bool = True) -> None:
        if self._client is None or not self._client.entered:
            return
        snap: dict[str, Any] = snapshot(self.device, self.speed) if online else {"online": False}
        snap["ts"] = datetime.now(UTC).isoformat()
        self._client.publish(self._status, orjson.dumps(snap), qos=1, retain=True)
        if not online or not self.stf_topics:
            return
        for dev, keys in (
            ("hbw", ("hbw.x", "hbw.y", "hbw.z")),
            ("conveyor", ("conveyor.belt",)),
            ("vgr", ("vgr.x", "vgr.y", "vgr.z")),
        ):
            body: dict[str, Any] = {k: snap["axes"][k] for k in keys}
            body["state"] = snap["machine_state"]
            if dev == "conveyor":
                body["barriers"] = snap["barriers"]
            self._client.publish(f"stf/{dev}/status", orjson.dumps(body), qos=0)

    def _publish_readings(self) -> None:
        assert self._client is not None
        s = self.settings
        for point in readings(self.device, datetime.now(UTC), s.tenant, s.plant):
            topic = reading_topic(point.tenant, point.plant, point.line, point.machine,
                                  point.metric)  # fmt: skip
            self._client.publish(topic, point.to_json(), qos=1)

    async def run(self, periods: int | None = None) -> None:
        """Run until cancelled (or for ``periods`` of 0.1 s)."""
        target = resolve_target(self.settings)
        self._client = MqttClient(
            target, f"edgetwin-sim-warehouse-{self.settings.plant}",
            subscriptions=[self._cmd, self._estop,
                           *((ESTOP_TOPIC, RESET_TOPIC) if self.stf_topics else ())],
            queue=self._queue,
            will=(self._status, orjson.dumps({"online": False})), persistent=False,
        )  # fmt: skip
        log.info("warehouse simulator on %s:%d at %gx speed", target.host, target.port,
                 self.speed)  # fmt: skip
        self.device.c.reset()  # initialise: Stopped -> Resetting -> Idle
        async with self._client:
            try:
                await self._loop(periods)
            finally:
                self._publish_status(online=False)
                await asyncio.sleep(0.2)

    async def _loop(self, periods: int | None) -> None:
        owed, done = 0.0, 0
        next_status = next_readings = start = time.monotonic()
        while periods is None or done < periods:
            while not self._queue.empty():
                self.on_message(self._queue.get_nowait())
            owed += self.speed
            ticks = int(owed)
            owed -= ticks
            self.step(ticks)
            self._publish_answers()
            now = time.monotonic()
            if now >= next_status:
                self._publish_status()
                next_status = now + STATUS_EVERY_S
            if now >= next_readings:
                self._publish_readings()
                next_readings = now + READINGS_EVERY_S
            done += 1
            await asyncio.sleep(max(0.0, start + done * PERIOD_S - time.monotonic()))


async def simulate(settings: Settings, speed: float | None = None) -> None:
    """``edgetwin sim warehouse [--speed N]`` (``Pack.simulate``)."""
    await WarehouseSim(settings, speed if speed is not None else speed_from_env()).run()
