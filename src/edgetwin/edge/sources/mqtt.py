"""The ``mqtt`` source: the plant's unified namespace, and a device link to its MQTT devices.

It subscribes (persistent session, QoS 1) to every reading of the plant
(``v1/{tenant}/{plant}/+/+/+``), to batch messages (``v1/{tenant}/{plant}/batch/+``, a JSON
array, as a high-rate device or another gateway sends them) and to the devices' command replies.
A delivery is the messages that arrived together (up to 5,000); their PUBACKs go out when the
runtime calls ``ack()``, after the buffer commit.

Each reading is checked against its topic and the wire format; a batch is taken item by item, so
one bad item is rejected alone. Bad input is counted by reason and logged at most once a second;
it never stops the source. As a device link it sends commands to any device no other link owns
(``fallback``), on ``.../cmd/device``, and reports the device's answer on ``.../cmd/reply``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Final

import orjson
import paho.mqtt.client as paho
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.device import CommandSpec
from edgetwin.core.errors import DeviceLinkError, WireFormatError
from edgetwin.core.ids import SEGMENT_PATTERN
from edgetwin.core.plugins import Delivery, PluginContext
from edgetwin.core.point import Point, parse_point, parse_points
from edgetwin.core.topics import (
    batch_topic,
    device_command_topic,
    device_reply_filter,
    parse_reading_topic,
    plant_filter,
    shared,
    status_topic,
)
from edgetwin.edge.rejects import Rejects
from edgetwin.security.mqtt_acl import edge_part
from edgetwin.transport.client import MqttClient
from edgetwin.transport.mqtt import resolve_target

log = logging.getLogger("edgetwin.edge.mqtt")

MAX_PAYLOAD: Final = 64 * 1024
MAX_BATCH_PAYLOAD: Final = 4 * 1024 * 1024
DRAIN_MAX: Final = 5000
"""At most this many messages go into one delivery (one buffer transaction)."""
DRAIN_MAX_BYTES: Final = 512 * 1024
"""...and at most about this many payload bytes (~2,500 readings): a delivery is one slice of the
event loop, and a slice of a few milliseconds leaves the sinks their turns under overload."""

Row = tuple[Point, bytes]  # a reading and its wire payload: what a device sent, not re-encoded


class MqttSourceConfig(BaseModel):
    """``[[sources]] type = "mqtt"``.

    Attributes:
        share_group: edges in one group share the plant's readings (MQTT shared subscription);
            needs a broker that has them (``--mqtt-url``). Default: the setting
            ``mqtt_share_group`` (``EDGETWIN_MQTT_SHARE_GROUP``).
        client_id: the persistent session's id (default ``edgetwin-edge-{tenant}-{plant}-{edge}``).
    """

    model_config = ConfigDict(extra="forbid")

    share_group: Annotated[str | None, Field(pattern=SEGMENT_PATTERN)] = None
    client_id: str | None = None


class MqttSource:
    """Readings of the plant's broker; see the module's docstring."""

    def __init__(
        self, name: str, config: MqttSourceConfig, ctx: PluginContext, target: Any = None
    ) -> None:
        self.name = name
        if config.share_group is None and ctx.settings is not None:
            config = config.model_copy(update={"share_group": ctx.settings.mqtt_share_group})
        self.config = config
        self.tenant, self.plant, self.edge_id = ctx.tenant, ctx.plant, ctx.edge_id
        self._target = target
        self._settings = ctx.settings
        self.intake = Intake(ctx.tenant, ctx.plant, status_topic(ctx.tenant, ctx.plant, ""))
        self.queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self.client: MqttClient | None = None
        self.on_event: Callable[[str, str, dict[str, Any]], None] | None = None
        # In a share group, each command reaches every edge: only the edge that owns a device
        # may act on it, and an MQTT device belongs to none in particular.
        self.fallback = config.share_group is None
        self.received = 0
        self._batch_prefix = batch_topic(ctx.tenant, ctx.plant, "")

    @classmethod
    def from_config(cls, name: str, config: MqttSourceConfig, ctx: PluginContext) -> MqttSource:
        return cls(name, config, ctx)

    async def __aenter__(self) -> MqttSource:
        part = edge_part(self.tenant, self.plant, self.edge_id)
        target = self._target or resolve_target(self._settings, part)
        t, p, group = self.tenant, self.plant, self.config.share_group
        self.client = MqttClient(
            target,
            client_id=self.config.client_id or f"edgetwin-edge-{t}-{p}-{self.edge_id}",
            subscriptions=[
                shared(plant_filter(t, p), group),
                shared(batch_topic(t, p, "+"), group),
                device_reply_filter(t, p),
            ],
            queue=self.queue,
        )
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.__aexit__(*exc)

    @property
    def ready(self) -> asyncio.Event:
        """Set once the broker confirmed the subscriptions."""
        if self.client is None:
            raise RuntimeError("the source is not entered")
        return self.client.subscribed

    async def deliveries(self) -> AsyncIterator[Delivery]:
        client = self.client
        if client is None:
            raise RuntimeError("the source is not entered")
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0].payload)
            while len(batch) < DRAIN_MAX and size < DRAIN_MAX_BYTES:
                try:
                    msg = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                batch.append(msg)
                size += len(msg.payload)
            rows: list[Row] = []
            for msg in batch:
                kind = topic_kind(msg.topic)
                if kind == "reply":
                    self._reply(msg)
                elif kind == "command":
                    self.intake.command_topic(msg)  # the control link's business
                elif kind == "batch":
                    rows.extend(self.intake.batch(msg))
                else:
                    row = self.intake.reading(msg)
                    if row is not None:
                        rows.append(row)
            self.received += len(rows)
            if not rows:
                client.ack(batch)  # nothing to buffer: done with them now
                continue
            yield Delivery(
                points=[r[0] for r in rows],
                raw=[r[1] for r in rows],
                ack=lambda b=batch: client.ack(b),  # type: ignore[misc]
            )

    # -- device link --
    def owns(self, line: str, machine: str) -> bool:
        return False  # MQTT devices are reached as the fallback, see ``fallback``

    def command_spec(self, line: str, machine: str, name: str) -> CommandSpec | None:
        return None

    async def send(self, line: str, machine: str, command: dict[str, Any]) -> None:
        client = self.client
        if client is None or not client.connected.is_set():
            raise DeviceLinkError("the plant broker is unreachable")
        topic = device_command_topic(self.tenant, self.plant, line, machine)
        client.publish(topic, orjson.dumps(command), qos=1)

    def _reply(self, msg: paho.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        try:
            reply = orjson.loads(msg.payload)
            if not isinstance(reply, dict) or "id" not in reply:
                raise TypeError("a reply is an object with the command's id")
        except (orjson.JSONDecodeError, TypeError) as exc:
            self.intake.reject("bad_command", f"{msg.topic}: {exc}")
            return
        if self.on_event is not None and len(parts) == 7:
            self.on_event(parts[3], parts[4], {**reply, "type": "ack"})

    def stats(self) -> dict[str, Any]:
        connected = self.client is not None and self.client.connected.is_set()
        return {
            "type": "mqtt",
            "connected": connected,
            "received": self.received,
            "rejected": dict(self.intake.rejected),
            "error": None if self.client is None else self.client.last_error,
        }


def topic_kind(topic: str) -> str:
    """What a message of the plant's namespace is, by its topic's shape (not by a word in it):
    ``batch`` (``v1/t/p/batch/{source}``, 5 segments), ``command`` (``v1/t/p/l/m/cmd``),
    ``reply`` (``v1/t/p/l/m/cmd/reply``), otherwise ``reading``. So a line may be called
    ``batch`` or ``status``; a *metric* may not be called ``cmd`` (reserved: its topic is a
    device command's)."""
    parts = topic.split("/")
    n = len(parts)
    if n == 5 and parts[3] == "batch":
        return "batch"
    if n == 6 and parts[5] == "cmd":
        return "command"
    if n == 7 and parts[5] == "cmd" and parts[6] == "reply":
        return "reply"
    return "reading"


class Intake:
    """MQTT messages to readings, each bad message counted by reason."""

    def __init__(self, tenant: str, plant: str, status_prefix: str) -> None:
        self.tenant, self.plant = tenant, plant
        self.status_prefix = status_prefix
        self.rejected = Rejects(log, "rejected reading")

    def reading(self, msg: paho.MQTTMessage) -> Row | None:
        """One reading on its own topic."""
        topic = parse_reading_topic(msg.topic)
        if topic is None and msg.topic.startswith(self.status_prefix):
            return None  # plant status, not a reading (amqtt sometimes hands it to us)
        if topic is None:
            self.reject("bad_topic", f"not a reading topic: {msg.topic!r}")
            return None
        if len(msg.payload) > MAX_PAYLOAD:
            self.reject("too_large", f"{len(msg.payload)} bytes on {msg.topic}")
            return None
        try:
            point = parse_point(bytes(msg.payload))
        except WireFormatError as exc:
            self.reject("malformed", f"{msg.topic}: {_reasons(exc)}")
            return None
        if point.series_key != tuple(topic):
            self.reject("topic_mismatch", f"payload names {point.series_key}, topic {msg.topic}")
            return None
        return (point, bytes(msg.payload))

    def command_topic(self, msg: paho.MQTTMessage) -> None:
        """A message on a device command topic: the control link handles commands; a reading
        published there (a metric called ``cmd``) is refused, counted as ``reserved_name``."""
        try:
            body = orjson.loads(msg.payload)
        except orjson.JSONDecodeError:
            return
        if isinstance(body, dict) and "metric" in body and "value" in body:
            self.reject("reserved_name", f"{msg.topic}: 'cmd' is reserved and cannot be a metric")

    def batch(self, msg: paho.MQTTMessage) -> list[Row]:
        """A JSON array of the plant's own readings in one message."""
        if len(msg.payload) > MAX_BATCH_PAYLOAD:
            self.reject("too_large", f"{len(msg.payload)} bytes on {msg.topic}")
            return []
        try:
            items = orjson.loads(msg.payload)
        except orjson.JSONDecodeError as exc:
            self.reject("malformed", f"{msg.topic}: not JSON: {exc}")
            return []
        if not isinstance(items, list):
            self.reject("malformed", f"{msg.topic}: a batch must be a JSON array")
            return []
        try:
            points = parse_points(items)  # the whole list in one call: the common, fast case
        except WireFormatError:
            checked = [(self._item(msg.topic, item), item) for item in items]  # name each bad one
            return [(p, orjson.dumps(item)) for p, item in checked if p]
        rows: list[Row] = []
        for point, item in zip(points, items, strict=True):
            if (point.tenant, point.plant) != (self.tenant, self.plant):
                self._mismatch(msg.topic, point)
                continue
            rows.append((point, orjson.dumps(item)))
        return rows

    def _item(self, topic: str, item: Any) -> Point | None:
        if not isinstance(item, dict):
            self.reject("malformed", f"{topic}: a reading must be a JSON object")
            return None
        try:
            point = parse_point(item)
        except WireFormatError as exc:
            self.reject("malformed", f"{topic}: {_reasons(exc)}")
            return None
        if (point.tenant, point.plant) != (self.tenant, self.plant):
            self._mismatch(topic, point)
            return None
        return point

    def _mismatch(self, topic: str, point: Point) -> None:
        self.reject("topic_mismatch", f"{topic}: reading of {point.tenant}/{point.plant}")

    def reject(self, reason: str, detail: str) -> None:
        self.rejected.add(reason, detail)


def _reasons(exc: WireFormatError) -> str:
    return "; ".join(str(e) for p in exc.problems for e in p["errors"])  # type: ignore[attr-defined]
