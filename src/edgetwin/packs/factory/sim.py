"""The factory simulator as a device: publishes each reading with QoS 1 and obeys fault commands.

Plant fault commands arrive on ``v1/{tenant}/{plant}/cmd`` as ``{"cmd": ..., "value": bool}``.
Each machine also takes device commands (``START``, ``STOP``, ``PING``) from the edge on
``v1/{tenant}/{plant}/{line}/{machine}/cmd/device`` and answers each on ``.../cmd/reply``; a
repeated command id is answered again without acting twice. The simulator reports its applied
faults, stopped machines and publish counter, retained, on
``v1/{tenant}/{plant}/status/factory-sim``, so a dashboard shows what the machines really do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import paho.mqtt.client as paho

from edgetwin.core.settings import Settings
from edgetwin.core.topics import (
    command_topic,
    device_command_topic,
    device_reply_topic,
    reading_topic,
    status_topic,
)
from edgetwin.packs.factory.model import (
    CYCLE_S,
    DEVICE_COMMANDS,
    FAULT_COMMANDS,
    MACHINES,
    Faults,
    cycle,
)
from edgetwin.security.mqtt_acl import simulator_part
from edgetwin.transport.client import MqttClient
from edgetwin.transport.mqtt import resolve_target

log = logging.getLogger("edgetwin.sim.factory")


class FactorySim:
    def __init__(self, settings: Settings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()
        self.faults = Faults()
        self.published = 0
        self.rejected_commands = 0
        self._status = status_topic(settings.tenant, settings.plant, "factory-sim")
        self._cmd = command_topic(settings.tenant, settings.plant)
        self._device_cmd = device_command_topic(settings.tenant, settings.plant, "+", "+")
        self.stopped: set[tuple[str, str]] = set()
        self._answered: dict[str, dict[str, Any]] = {}  # command id -> reply, the last 1000
        self._client: MqttClient | None = None
        self._queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()

    # -- commands, handled on the event loop in arrival order --
    async def _commands(self) -> None:
        while True:
            self._on_message(await self._queue.get())

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        if msg.topic.endswith("/cmd/device"):
            self._on_device_command(msg)
            return
        try:
            body = orjson.loads(msg.payload)
            cmd, value = body["cmd"], body.get("value", True)
            if not isinstance(cmd, str) or not isinstance(value, bool):
                raise TypeError("cmd must be a string and value a boolean")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self.rejected_commands += 1
            log.warning(
                "ignored malformed command on %s: %s (%r)", msg.topic, exc, msg.payload[:200]
            )
            return
        if cmd not in FAULT_COMMANDS:
            self.rejected_commands += 1
            log.warning("ignored unknown command %r (known: %s)", cmd, ", ".join(FAULT_COMMANDS))
            return
        self.faults = self.faults.apply(cmd, value)
        log.info("command %s=%s -> faults %s", cmd, value, self.faults)
        self._publish_status(online=True)

    def _on_device_command(self, msg: paho.MQTTMessage) -> None:
        _v, tenant, plant, line, machine, *_ = msg.topic.split("/")
        try:
            body = orjson.loads(msg.payload)
            cmd_id, name = str(body["id"]), str(body["name"]).upper()
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self.rejected_commands += 1
            log.warning("ignored malformed device command on %s: %s", msg.topic, exc)
            return
        reply = self._answered.get(cmd_id) or self._device_command(line, machine, cmd_id, name)
        self._answered[cmd_id] = reply
        while len(self._answered) > 1000:
            self._answered.pop(next(iter(self._answered)))
        assert self._client is not None
        topic = device_reply_topic(tenant, plant, line, machine)
        self._client.publish(topic, orjson.dumps(reply), qos=1)

    def _device_command(self, line: str, machine: str, cmd_id: str, name: str) -> dict[str, Any]:
        """Act on one machine's command once; the reply says what the machine did."""
        if (line, machine) not in MACHINES:
            return {"id": cmd_id, "ok": False, "error": f"no machine {line}/{machine}"}
        if name not in DEVICE_COMMANDS:
            known = ", ".join(DEVICE_COMMANDS)
            return {"id": cmd_id, "ok": False, "error": f"unknown command {name}; known: {known}"}
        was = "stopped" if (line, machine) in self.stopped else "running"
        if name == "STOP":
            self.stopped.add((line, machine))
        elif name == "START":
            self.stopped.discard((line, machine))
        now = "stopped" if (line, machine) in self.stopped else "running"
        log.info("device command %s on %s/%s: %s -> %s", name, line, machine, was, now)
        if name != "PING":
            self._publish_status(online=True)
        return {"id": cmd_id, "ok": True, "detail": {"before": was, "after": now}}

    def _status_payload(self, online: bool) -> bytes:
        stopped = sorted(f"{line}/{machine}" for line, machine in self.stopped)
        return orjson.dumps(
            {
                "online": online,
                "faults": {
                    "bearing_fault": self.faults.bearing_fault,
                    "energy_spike": self.faults.energy_spike,
                },
                "stopped": stopped,
                "published": self.published,
                "rejected_commands": self.rejected_commands,
                "ts": datetime.now(UTC).isoformat(),
            }
        )

    def _publish_status(self, online: bool) -> None:
        if self._client is not None and self._client.entered:
            self._client.publish(self._status, self._status_payload(online), qos=1, retain=True)

    # -- main loop --
    async def run(self, cycles: int | None = None) -> None:
        s = self.settings
        target = resolve_target(s, simulator_part("factory", s.tenant, s.plant, MACHINES))
        client = MqttClient(
            target,
            f"edgetwin-sim-factory-{self.settings.plant}",
            subscriptions=[self._cmd, self._device_cmd],
            queue=self._queue,
            will=(self._status, self._status_payload(False)),
            persistent=False,
            keepalive_s=30,
        )
        self._client = client
        log.info(
            "factory simulator publishing to %s:%d every %.0f s", target.host, target.port, CYCLE_S
        )
        async with client:
            commands = asyncio.create_task(self._commands(), name="commands")
            try:
                await self._cycles(cycles)
            finally:
                commands.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await commands
                self._publish_status(online=False)
                await asyncio.sleep(0.2)

    async def _cycles(self, cycles: int | None) -> None:
        done = 0
        while cycles is None or done < cycles:
            # Cycles sit on wall-clock multiples of CYCLE_S, so readings line up across restarts.
            now = time.time()
            tick = math.floor(now / CYCLE_S + 1) * CYCLE_S
            await asyncio.sleep(tick - now)
            self._publish_cycle(datetime.fromtimestamp(tick, tz=UTC))
            done += 1
            if self.published % (54 * 30) == 0:
                log.info("published %d readings", self.published)

    def _publish_cycle(self, ts: datetime) -> None:
        assert self._client is not None
        faults, stopped = self.faults, frozenset(self.stopped)
        s = self.settings
        for point in cycle(ts, faults, self.rng, s.tenant, s.plant, stopped):
            topic = reading_topic(
                point.tenant, point.plant, point.line, point.machine, point.metric
            )
            self._client.publish(topic, point.to_json(), qos=1)
            self.published += 1
        self._publish_status(online=True)


async def simulate(settings: Settings) -> None:
    await FactorySim(settings).run()
