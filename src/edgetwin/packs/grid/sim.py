"""Simulated smart breakers on MQTT (``edgetwin sim grid --devices N``): ``breaker-001``...

Each breaker is its own MQTT client (so each has its own last will) and publishes with QoS 1,
with the reference's timing: after a pause of U(3, 8) s, with probability 0.25 a burst of 3-6
telemetry messages 0.2 s apart followed by one ``trends`` (the burst's aggregate) and one
``status``, otherwise one telemetry message. The physics (:mod:`.model`) advances in steps of at
most 1 s between messages, so the protection's inverse-time curve is integrated, not sampled.

``status`` is retained and says ``online``; the broker publishes the retained last will
``offline`` when the breaker vanishes (its keepalive is ``KEEPALIVE_S``). Commands arrive on
``iot/{device_id}/cmd`` as ``{"id", "name", "args"}`` (``open``, ``close``, ``reset_trip``);
the breaker acts and answers in its next status, at once: ``"ack": {"id", "name", "ok"}``. A
command id it has answered is answered again without acting twice.

A tripped breaker stays open until an operator resets it; left alone, the simulated site's
technician resets and recloses it after ``auto_reset_s`` (so an unattended demo keeps running).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
import paho.mqtt.client as paho

from edgetwin.core.settings import Settings
from edgetwin.packs.grid import messages
from edgetwin.packs.grid.model import (
    Breaker,
    BreakerParams,
    CommandRefusedError,
    Position,
    command,
    new_breaker,
    step,
)
from edgetwin.security.mqtt_acl import foreign_part
from edgetwin.transport.client import MqttClient
from edgetwin.transport.mqtt import resolve_target

log = logging.getLogger("edgetwin.sim.grid")

KEEPALIVE_S: Final = 10
MAX_STEP_S: Final = 1.0
BURST_P: Final = 0.25


def device_ids(n: int) -> list[str]:
    """``breaker-001`` ... ``breaker-{n:03d}``."""
    return [f"breaker-{i:03d}" for i in range(1, n + 1)]


def topic(device_id: str, kind: str) -> str:
    """``iot/{device_id}/{kind}``: kind is raw, trends, status or cmd."""
    return f"iot/{device_id}/{kind}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class BreakerDevice:
    """One simulated breaker: its physics, its commands and its messages (no I/O here)."""

    device_id: str
    params: BreakerParams
    rng: random.Random
    auto_reset_s: float | None = 300.0
    state: Breaker = field(init=False)
    tripped_for: float = 0.0
    answered: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    session: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.state = new_breaker(self.params, self.rng)

    def advance(self, seconds: float, force_overload: float | None = None) -> None:
        """Run the physics ``seconds`` forward, in steps of at most ``MAX_STEP_S``."""
        left = seconds
        while left > 1e-9:
            dt = min(MAX_STEP_S, left)
            self.state = step(self.state, self.params, dt, self.rng, force_overload=force_overload)
            left -= dt
            if self.state.position is Position.TRIPPED:
                self.tripped_for += dt
                if self.auto_reset_s is not None and self.tripped_for >= self.auto_reset_s:
                    self.state = command(command(self.state, "RESET_TRIP"), "CLOSE")
            else:
                self.tripped_for = 0.0

    def on_command(self, payload: bytes) -> dict[str, Any]:
        """Carry out one command message; returns the ack for the next status."""
        try:
            cmd = orjson.loads(payload)
            cmd_id, name = str(cmd["id"]), str(cmd["name"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("%s: malformed command %.200r (%s)", self.device_id, payload, exc)
            return {"id": None, "ok": False, "error": f"malformed command: {exc}"}
        if cmd_id in self.answered:
            return self.answered[cmd_id]
        try:
            self.state = command(self.state, name)
            ack: dict[str, Any] = {"id": cmd_id, "name": name.upper(), "ok": True}
        except CommandRefusedError as exc:
            ack = {"id": cmd_id, "name": name.upper(), "ok": False, "error": str(exc)}
        self.answered[cmd_id] = ack
        while len(self.answered) > 1000:
            self.answered.popitem(last=False)
        return ack

    def telemetry(self) -> dict[str, Any]:
        return messages.telemetry(self.device_id, self.state, self.params, now_iso())

    def status(self, ack: dict[str, Any] | None = None) -> dict[str, Any]:
        return messages.status(
            self.device_id, now_iso(), self.state, online=True, ack=ack, session=self.session
        )

    def will(self) -> dict[str, Any]:
        """The last will: ``offline``, stamped with this session (so each death is its own
        message, not a repeat of the previous one)."""
        return messages.status(self.device_id, now_iso(), None, online=False, session=self.session)


class BreakerSim:
    """One breaker on the broker: the I/O around a :class:`BreakerDevice`."""

    def __init__(self, settings: Settings, device: BreakerDevice, speed: float = 1.0) -> None:
        self.settings = settings
        self.device = device
        self.speed = speed
        self.queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self.published = 0
        self.client: MqttClient | None = None

    def _publish(self, kind: str, msg: dict[str, Any], *, retain: bool = False) -> None:
        assert self.client is not None
        self.client.publish(topic(self.device.device_id, kind), orjson.dumps(msg), retain=retain)
        self.published += 1

    async def _wait(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass, answering commands as they come."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds / self.speed
        while (left := end - loop.time()) > 0:
            try:
                msg = await asyncio.wait_for(self.queue.get(), timeout=left)
            except TimeoutError:
                break
            elapsed = seconds - (end - loop.time()) * self.speed
            self.device.advance(max(0.0, elapsed))
            seconds -= elapsed
            ack = self.device.on_command(bytes(msg.payload))
            self._publish("status", self.device.status(ack), retain=True)
        self.device.advance(max(0.0, seconds))

    async def run(self) -> None:
        dev, rng = self.device, self.device.rng
        will = (topic(dev.device_id, "status"), orjson.dumps(dev.will()))
        s = self.settings
        part = foreign_part("grid", f"sim-{dev.device_id}", s.tenant, s.plant,
                            [f"iot/{dev.device_id}/#"])  # fmt: skip
        self.client = MqttClient(
            resolve_target(s, part),
            f"edgetwin-sim-grid-{dev.device_id}",
            subscriptions=[topic(dev.device_id, "cmd")],
            queue=self.queue,
            will=will,
            persistent=False,
            keepalive_s=KEEPALIVE_S,
        )
        async with self.client:
            await self.client.connected.wait()
            self._publish("status", dev.status(), retain=True)
            while True:
                await self._wait(rng.uniform(3.0, 8.0))
                if rng.random() < BURST_P:
                    burst = []
                    for i in range(rng.randint(3, 6)):
                        if i:
                            await self._wait(0.2)
                        burst.append(dev.telemetry())
                        self._publish("raw", burst[-1])
                    now = datetime.now(UTC)
                    self._publish("trends", messages.trends(
                        dev.device_id, now_iso(), int(now.timestamp()), burst))  # fmt: skip
                    self._publish("status", dev.status(), retain=True)
                else:
                    self._publish("raw", dev.telemetry())


async def simulate(
    settings: Settings, devices: int = 3, speed: float = 1.0, seed: int | None = None
) -> None:
    """Run ``devices`` breakers (``breaker-001``...) until cancelled."""
    root = random.Random(seed)
    params = BreakerParams()
    sims = [
        BreakerSim(settings, BreakerDevice(d, params, random.Random(root.random())), speed)
        for d in device_ids(devices)
    ]
    log.info("grid: %d breakers on iot/{device_id}/raw|trends|status", len(sims))
    async with asyncio.TaskGroup() as tg:
        for s in sims:
            tg.create_task(s.run(), name=s.device.device_id)
