"""The edge's link to the warehouse controller (source ``warehouse_link``): commands down.

The plant's MQTT source reaches every MQTT device as the fallback link, with the platform's
default answer time (5 s). An order takes the warehouse a minute of motion and is answered when
the motion is done, so this link owns the controller and tells the edge's command router each
command's spec from the device type (``ORDER_TIMEOUT_S`` for orders). It sends on the device's
``.../cmd/device`` topic like the fallback; the answer comes back on ``.../cmd/reply`` through
the plant's MQTT source, as for any MQTT device. It yields no readings (the plant's MQTT source
takes them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import paho.mqtt.client as paho
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.device import CommandSpec
from edgetwin.core.errors import DeviceLinkError
from edgetwin.core.ids import SEGMENT_PATTERN
from edgetwin.core.plugins import Delivery, PluginContext
from edgetwin.core.topics import device_command_topic, device_reply_topic
from edgetwin.packs.warehouse.device_types import CONTROLLER, CONTROLLER_TYPE, LINE
from edgetwin.security.mqtt_acl import edge_part
from edgetwin.transport.client import MqttClient
from edgetwin.transport.mqtt import resolve_target


class WarehouseLinkConfig(BaseModel):
    """``[[sources]] type = "warehouse_link"``: where the controller is."""

    model_config = ConfigDict(extra="forbid")

    line: str = Field(LINE, pattern=SEGMENT_PATTERN)
    machine: str = Field(CONTROLLER, pattern=SEGMENT_PATTERN)


class WarehouseLink:
    """A device link that owns the warehouse controller; see the module's docstring."""

    def __init__(self, name: str, config: WarehouseLinkConfig, ctx: PluginContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.on_event: Callable[[str, str, dict[str, Any]], None] | None = None
        self.client: MqttClient | None = None
        self._queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self.sent = 0

    @classmethod
    def from_config(
        cls, name: str, config: WarehouseLinkConfig, ctx: PluginContext
    ) -> WarehouseLink:
        return cls(name, config, ctx)

    async def __aenter__(self) -> WarehouseLink:
        ctx = self.ctx
        target = resolve_target(ctx.settings, edge_part(ctx.tenant, ctx.plant, ctx.edge_id))
        client_id = f"edgetwin-edge-{ctx.tenant}-{ctx.plant}-{ctx.edge_id}-{self.name}"
        # A client needs a subscription: the controller's answers (the plant's MQTT source
        # reports them to the router; here they are only drained).
        reply = device_reply_topic(ctx.tenant, ctx.plant, self.config.line, self.config.machine)
        self.client = MqttClient(target, client_id, [reply], self._queue, persistent=False)
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.__aexit__(*exc)
            self.client = None

    async def deliveries(self) -> AsyncIterator[Delivery]:
        while True:  # no readings of its own, ever
            await self._queue.get()
            if False:  # an async generator that never yields
                yield

    def stats(self) -> dict[str, Any]:
        connected = self.client is not None and self.client.connected.is_set()
        return {"type": "warehouse_link", "connected": connected, "sent": self.sent}

    # -- device link --
    def owns(self, line: str, machine: str) -> bool:
        return (line, machine) == (self.config.line, self.config.machine)

    def command_spec(self, line: str, machine: str, name: str) -> CommandSpec | None:
        return CONTROLLER_TYPE.command(name) if self.owns(line, machine) else None

    async def send(self, line: str, machine: str, command: dict[str, Any]) -> None:
        client = self.client
        if client is None or not client.connected.is_set():
            raise DeviceLinkError("the plant broker is unreachable")
        topic = device_command_topic(self.ctx.tenant, self.ctx.plant, line, machine)
        client.publish(topic, orjson.dumps(command), qos=1)
        self.sent += 1


def register_plugins() -> None:
    """Register ``warehouse_link`` (``Pack.plugins``)."""
    from edgetwin.edge.registry import register

    register("sources", "warehouse_link", WarehouseLinkConfig, WarehouseLink.from_config,
             "commands to the warehouse controller, with its orders' answer times")  # fmt: skip
