"""The ``grid_mqtt`` source: the breakers' ``iot/+/raw|trends|status`` messages, as readings.

Each message becomes readings, one per channel (:func:`.messages.channels`: ``voltage_phase_a``
in V, ...), of the machine ``device_id`` on the source's ``line``; and the message itself, byte
for byte, is kept for the stream (:mod:`edgetwin.streams.kept`) under the id of its
``event_type`` reading, with its subject (``iot.raw``, ``iot.trends`` or ``iot.status``).

Ids are derived, never drawn: a message's id is a UUIDv5 of its topic and bytes, a reading's a
UUIDv5 of the message id and its channel. A message the broker delivers again (the edge died
before its PUBACK) makes the same readings with the same ids, which the buffer recognises. Each
breaker's last will differs per session (it carries the session), so a second death is a second
message. The readings' time is the message's ``timestamp``; the last will's, its arrival (the
will was written when the breaker connected).

As a device link it owns every machine of its line: a command goes out on ``iot/{device}/cmd``
and the breaker's next status carries the answer (``"ack": {"id", "ok", "error"?}``).

Bad input (a topic of another shape, not JSON, not a breaker message, a device id that breaks the
naming rule) is counted by reason, logged at most once a second, and acknowledged: it never
stops the source.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Final

import orjson
import paho.mqtt.client as paho
from pydantic import BaseModel, ConfigDict

from edgetwin.core.device import CommandSpec, DeviceType
from edgetwin.core.errors import DeviceLinkError, PipelineConfigError
from edgetwin.core.ids import Segment, valid_segment
from edgetwin.core.plugins import Delivery, PluginContext
from edgetwin.core.point import Point, valid_value
from edgetwin.edge.rejects import Rejects
from edgetwin.packs.grid.messages import KINDS, MessageError, channels
from edgetwin.security.mqtt_acl import foreign_part
from edgetwin.streams.kept import KeptMessages, kept_path
from edgetwin.transport.client import MqttClient
from edgetwin.transport.mqtt import resolve_target

log = logging.getLogger("edgetwin.edge.grid")

NAMESPACE: Final = uuid.UUID("6f1c2a34-5d0e-4b8e-9a51-3c7e2f9d0b11")
MAX_PAYLOAD: Final = 64 * 1024
DRAIN_MAX: Final = 500


class GridSourceConfig(BaseModel):
    """``[[sources]] type = "grid_mqtt"``.

    Attributes:
        line: the line the breakers' readings belong to.
        device_type: their device type (declared by the grid pack).
        subject_prefix: the stream subjects of the kept messages: ``{prefix}.raw`` ...
        client_id: the persistent session's id (default ``edgetwin-edge-{tenant}-{plant}-{name}``).
    """

    model_config = ConfigDict(extra="forbid")

    line: Segment = "grid"
    device_type: str = "smart_breaker"
    subject_prefix: Segment = "iot"
    client_id: str | None = None


def message_id(topic: str, payload: bytes) -> uuid.UUID:
    """The id of one MQTT message: the same message delivered again has the same id."""
    return uuid.uuid5(NAMESPACE, topic + "\n" + payload.decode("utf-8", "replace"))


def reading_id(msg_id: uuid.UUID, channel: str) -> uuid.UUID:
    """The id of a message's reading of ``channel`` (``event_type``'s is the message's own)."""
    return msg_id if channel == "event_type" else uuid.uuid5(msg_id, channel)


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


class GridSource:
    """See the module's docstring."""

    fallback = False

    def __init__(
        self, name: str, config: GridSourceConfig, ctx: PluginContext, target: Any = None
    ) -> None:
        device_type = ctx.device_types.get(config.device_type)
        if device_type is None:
            raise PipelineConfigError(
                f"device_type {config.device_type!r} is not declared by an enabled pack"
            )
        self.name = name
        self.config = config
        self.device_type: DeviceType = device_type
        self.tenant, self.plant = ctx.tenant, ctx.plant
        self.client_id = config.client_id or f"edgetwin-edge-{ctx.tenant}-{ctx.plant}-{name}"
        self._settings = ctx.settings
        self._target = target  # the broker (default: the settings')
        self.kept = KeptMessages(kept_path(ctx.data_dir))
        self.queue: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self.client: MqttClient | None = None
        self.on_event: Callable[[str, str, dict[str, Any]], None] | None = None
        self.rejected = Rejects(log, "rejected breaker message")
        self.received = 0
        self.devices: dict[str, bool] = {}  # device id -> online

    @classmethod
    def from_config(cls, name: str, config: GridSourceConfig, ctx: PluginContext) -> GridSource:
        return cls(name, config, ctx)

    async def __aenter__(self) -> GridSource:
        self.kept.open()
        part = foreign_part("grid", "source", self.tenant, self.plant,
                            [*(f"iot/+/{kind}" for kind in KINDS), "iot/+/cmd"])  # fmt: skip
        self.client = MqttClient(
            self._target or resolve_target(self._settings, part),
            client_id=self.client_id,
            subscriptions=[f"iot/+/{kind}" for kind in KINDS],
            queue=self.queue,
        )
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.__aexit__(*exc)
        self.kept.close()

    async def deliveries(self) -> AsyncIterator[Delivery]:
        client = self.client
        if client is None:
            raise RuntimeError("the source is not entered")
        while True:
            batch = [await self.queue.get()]
            while len(batch) < DRAIN_MAX:
                try:
                    batch.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            points: list[Point] = []
            kept: list[tuple[str, str, bytes]] = []
            for msg in batch:
                made = self.read(msg.topic, bytes(msg.payload), datetime.now(UTC))
                if made is not None:
                    points += made[0]
                    kept.append(made[1])
            self.received += len(kept)
            if not points:
                client.ack(batch)
                continue
            self.kept.put(kept)  # before the readings: a marker never points at nothing
            yield Delivery(points=points, ack=lambda b=batch: client.ack(b))  # type: ignore[misc]

    def read(
        self, topic: str, payload: bytes, arrived: datetime
    ) -> tuple[list[Point], tuple[str, str, bytes]] | None:
        """One MQTT message -> its readings and the kept message ``(id, subject, body)``, or
        None when it is refused (counted)."""
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != "iot" or parts[2] not in KINDS:
            self.rejected.add("bad_topic", f"not a breaker topic: {topic!r}")
            return None
        device, kind = parts[1], parts[2]
        if not valid_segment(device):
            self.rejected.add("bad_device", f"{topic}: device id breaks the naming rule")
            return None
        if len(payload) > MAX_PAYLOAD:
            self.rejected.add("too_large", f"{len(payload)} bytes on {topic}")
            return None
        try:
            body = orjson.loads(payload)
            if not isinstance(body, dict):
                raise MessageError("a message is a JSON object")
            if body.get("device_id") != device:
                raise MessageError(f"device_id {body.get('device_id')!r} is not the topic's")
            if body.get("event_type") != KINDS[kind]:
                raise MessageError(f"event_type {body.get('event_type')!r} on {kind}")
            values = channels(body)
        except (orjson.JSONDecodeError, MessageError) as exc:
            self.rejected.add("malformed", f"{topic}: {exc}")
            return None
        ts = _timestamp(body.get("timestamp"))
        if ts is None or body.get("status") == "offline":
            ts = arrived
        ts = ts.replace(microsecond=ts.microsecond // 1000 * 1000)  # the wire's milliseconds
        msg_id = message_id(topic, payload)
        line = self.config.line
        points = [
            Point.make(ts=ts, tenant=self.tenant, plant=self.plant, line=line, machine=device,
                       metric=ch, value=value, unit=unit, id=reading_id(msg_id, ch))
            for ch, value, unit in values
            if valid_value(value)
        ]  # fmt: skip
        if kind == "status":
            self._status(device, body)
        subject = f"{self.config.subject_prefix}.{kind}"
        return points, (str(msg_id), subject, payload)

    def _status(self, device: str, body: dict[str, Any]) -> None:
        self.devices[device] = body.get("status") == "online"
        ack = body.get("ack")
        if self.on_event is not None and isinstance(ack, dict) and ack.get("id"):
            event = {"type": "ack", "id": str(ack["id"]), "ok": bool(ack.get("ok"))}
            if ack.get("error"):
                event["error"] = str(ack["error"])
            self.on_event(self.config.line, device, event)

    # -- device link --
    def owns(self, line: str, machine: str) -> bool:
        return line == self.config.line

    def command_spec(self, line: str, machine: str, name: str) -> CommandSpec | None:
        return self.device_type.command(name)

    async def send(self, line: str, machine: str, command: dict[str, Any]) -> None:
        client = self.client
        if client is None or not client.connected.is_set():
            raise DeviceLinkError("the breakers' broker is unreachable")
        if self.device_type.command(str(command.get("name", ""))) is None:
            names = ", ".join(c.name for c in self.device_type.commands)
            raise DeviceLinkError(f"a breaker takes {names}")
        client.publish(f"iot/{machine}/cmd", orjson.dumps(command), qos=1)

    def _kept_count(self) -> int | None:
        try:
            return self.kept.count()
        except RuntimeError:  # not open (before entering or after leaving)
            return None

    def stats(self) -> dict[str, Any]:
        return {
            "type": "grid_mqtt",
            "connected": self.client is not None and self.client.connected.is_set(),
            "received": self.received,
            "rejected": dict(self.rejected),
            "devices_online": sum(self.devices.values()),
            "devices": len(self.devices),
            "kept": self._kept_count(),
        }
