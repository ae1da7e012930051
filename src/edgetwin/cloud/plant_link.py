"""The cloud's MQTT link to a plant broker: publishes commands and follows retained status
topics (what simulators and devices report, edges' buffer reports); packs read the statuses of
their own devices through :meth:`PlantLink.status`.

It logs which broker it uses when it starts (a standalone ``edgetwin cloud`` would otherwise
connect to whatever listens on the embedded broker's port without a word) and, while it cannot
connect, why: each reason once, then at most every 45 s (:mod:`edgetwin.transport.linklog`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as paho

from edgetwin.cloud.edges import EdgeRegistry
from edgetwin.core.settings import Settings
from edgetwin.core.topics import command_result_filter, status_topic
from edgetwin.transport.client import MqttClient
from edgetwin.transport.mqtt import resolve_target, where

log = logging.getLogger("edgetwin.cloud.mqtt")


class PlantLink:
    """The cloud's client of the plant broker, on the one MQTT adapter
    (:class:`edgetwin.transport.client.MqttClient`): a clean session (the cloud needs the
    retained statuses and what arrives while it is there, not a backlog), QoS 1 publishes.

    ``start``/``stop`` run in the cloud's lifespan; messages are applied on the event loop.
    """

    def __init__(self, settings: Settings, edges: EdgeRegistry) -> None:
        self.settings = settings
        self.edges = edges
        self.statuses: dict[str, dict[str, Any]] = {}  # topic -> last retained status
        self._mqtt: MqttClient | None = None
        self._consume: asyncio.Task[None] | None = None
        # -- device command reports and live fan-out of statuses --
        self.on_command_report: Callable[[dict[str, Any]], None] | None = None
        self.on_status: Callable[[str, dict[str, Any]], None] | None = None

    @property
    def connected(self) -> bool:
        return self._mqtt is not None and self._mqtt.connected.is_set()

    @property
    def last_error(self) -> str | None:
        return None if self._mqtt is None else self._mqtt.last_error

    async def start(self) -> None:
        target = resolve_target(self.settings)
        how = (
            "--mqtt-url / EDGETWIN_MQTT_URL"
            if self.settings.mqtt_url
            else "the embedded broker's port, --mqtt-port / EDGETWIN_MQTT_PORT;"
            " another broker: --mqtt-url / EDGETWIN_MQTT_URL"
        )
        log.info("plant broker: %s (%s)", where(target), how)
        queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self._mqtt = MqttClient(
            target,
            f"edgetwin-cloud-{self.settings.http_port}",
            ["v1/+/+/status/+", command_result_filter()],
            queue,
            persistent=False,
            keepalive_s=30,
        )
        await self._mqtt.__aenter__()
        self._consume = asyncio.create_task(self._run(queue), name="plant-link")

    async def stop(self) -> None:
        if self._consume is not None:
            self._consume.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consume
            self._consume = None
        if self._mqtt is not None:
            await self._mqtt.__aexit__(None, None, None)
            self._mqtt = None

    def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        """Publish with QoS 1; False if the broker is not reachable right now."""
        return self.publish_info(topic, payload) is not None

    def publish_info(self, topic: str, payload: dict[str, Any]) -> paho.MQTTMessageInfo | None:
        """Publish with QoS 1 and return paho's handle, whose ``is_published()`` turns true on
        the broker's PUBACK; None if the broker is not reachable right now."""
        if self._mqtt is None or not self.connected:
            return None
        info = self._mqtt.client.publish(topic, orjson.dumps(payload), qos=1)
        return info if info.rc == paho.MQTT_ERR_SUCCESS else None

    async def _run(self, queue: asyncio.Queue[paho.MQTTMessage]) -> None:
        while True:
            msg = await queue.get()
            try:
                status = orjson.loads(msg.payload)
            except orjson.JSONDecodeError:
                continue  # not ours to judge: devices' statuses are JSON objects
            if isinstance(status, dict):
                self._apply(msg.topic, status)

    def _apply(self, topic: str, status: dict[str, Any]) -> None:
        if topic.endswith("/cmd/ack"):
            if self.on_command_report is not None:
                self.on_command_report(status)
            return
        if self.on_status is not None:
            self.on_status(topic, status)
        self.statuses[topic] = status
        if "buffer_depth" in status:
            parts = topic.split("/")  # v1/{tenant}/{plant}/status/{edge_id}
            if len(parts) == 5:
                self.edges.from_status(status, tenant=parts[1], plant=parts[2])
            else:
                self.edges.from_status(status)

    def status(self, tenant: str, plant: str, source: str) -> dict[str, Any] | None:
        """The retained status ``source`` (a simulator, an edge) last reported under
        ``v1/{tenant}/{plant}/status/{source}``; None if it never did or reported going offline."""
        status = self.statuses.get(status_topic(tenant, plant, source))
        return status if status is not None and status.get("online", False) else None

    def edge_statuses(self, tenant: str, plant: str) -> list[dict[str, Any]]:
        """The statuses of the plant's edges that are online (those reporting a buffer)."""
        prefix = f"v1/{tenant}/{plant}/status/"
        return [
            s
            for t, s in self.statuses.items()
            if t.startswith(prefix) and "buffer_depth" in s and s.get("online", True)
        ]
