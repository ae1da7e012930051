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
from edgetwin.transport.linklog import diagnose, link_report
from edgetwin.transport.mqtt import make_client, refused, resolve_target, where

DIAGNOSE_EVERY_S = 3.0

log = logging.getLogger("edgetwin.cloud.mqtt")


class PlantLink:
    def __init__(self, settings: Settings, edges: EdgeRegistry) -> None:
        self.settings = settings
        self.edges = edges
        self.statuses: dict[str, dict[str, Any]] = {}  # topic -> last retained status
        self.connected = False
        self._client: paho.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: asyncio.Task[None] | None = None
        self._closing = False
        self._refused = False
        self.last_error: str | None = None
        # -- device command reports and live fan-out of statuses --
        self.on_command_report: Callable[[dict[str, Any]], None] | None = None
        self.on_status: Callable[[str, dict[str, Any]], None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        target = resolve_target(self.settings)
        self.target = target
        self._report = link_report(target)
        how = (
            "--mqtt-url / EDGETWIN_MQTT_URL"
            if self.settings.mqtt_url
            else "the embedded broker's port, --mqtt-port / EDGETWIN_MQTT_PORT;"
            " another broker: --mqtt-url / EDGETWIN_MQTT_URL"
        )
        log.info("plant broker: %s (%s)", where(target), how)
        client = make_client(target, f"edgetwin-cloud-{self.settings.http_port}")
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(target.host, target.port, keepalive=30)
        client.loop_start()
        self._client = client
        self._watch = asyncio.create_task(self._watch_link(), name="plant-link-watch")

    def stop(self) -> None:
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    async def _watch_link(self) -> None:
        """While not connected, find out why (paho retries a failed TLS handshake or a refused
        TCP connection without a word) and say it."""
        with contextlib.suppress(asyncio.CancelledError):
            while not self._closing:
                await asyncio.sleep(DIAGNOSE_EVERY_S)
                if self.connected or self._refused or self._closing:
                    continue
                reason = await diagnose(self.target)
                if reason is not None and not self.connected and not self._closing:
                    self.last_error = reason
                    self._report.down(f"{reason}; commands and status wait for it")

    def publish(self, topic: str, payload: dict[str, Any]) -> bool:
        """Publish with QoS 1; False if the broker is not reachable right now."""
        if self._client is None or not self.connected:
            return False
        info = self._client.publish(topic, orjson.dumps(payload), qos=1)
        return info.rc == paho.MQTT_ERR_SUCCESS

    def publish_info(self, topic: str, payload: dict[str, Any]) -> paho.MQTTMessageInfo | None:
        """Publish with QoS 1 and return paho's handle, whose ``is_published()`` turns true on
        the broker's PUBACK; None if the broker is not reachable right now."""
        if self._client is None or not self.connected:
            return None
        info = self._client.publish(topic, orjson.dumps(payload), qos=1)
        return info if info.rc == paho.MQTT_ERR_SUCCESS else None

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refused = True
            self.last_error = refused(self.target, reason)
            self._report.down(self.last_error, logging.ERROR)
            return
        self._refused = False
        self.last_error = None
        self.connected = True
        self._report.up()
        log.info("connected to the plant broker %s", where(self.target))
        client.subscribe([("v1/+/+/status/+", 1), (command_result_filter(), 1)])

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        was = self.connected
        self.connected = False
        if self._closing:
            log.info("disconnected from the plant broker %s", where(self.target))
        elif was:
            self.last_error = f"disconnected from the broker: {reason}; reconnecting"
            self._report.down(self.last_error)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            status = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(status, dict):
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._apply, msg.topic, status)

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
