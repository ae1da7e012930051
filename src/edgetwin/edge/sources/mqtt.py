"""The edge's intake: MQTT messages to buffer rows, each bad message counted by reason.

A reading is checked against its topic and the wire format; a batch message (a JSON array, as a
high-rate device or another gateway sends them) is taken item by item, so one bad item is
rejected alone. Nothing here stops the pipeline: bad input is counted and logged (at most once a
second, so a flood of it cannot flood the log).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import paho.mqtt.client as paho

from edgetwin.core.errors import WireFormatError
from edgetwin.core.point import Point, parse_point, parse_points
from edgetwin.core.topics import parse_reading_topic
from edgetwin.edge.rejects import Rejects

log = logging.getLogger("edgetwin.edge")

MAX_PAYLOAD = 64 * 1024
MAX_BATCH_PAYLOAD = 4 * 1024 * 1024

Row = tuple[str, int, bytes]  # (id, ts_ms, wire payload): what a device sent, not re-encoded


class Intake:
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
        return (str(point.id), point.ts_ms, bytes(msg.payload))

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
            return [(str(p.id), p.ts_ms, orjson.dumps(item)) for p, item in checked if p]
        rows: list[Row] = []
        for point, item in zip(points, items, strict=True):
            if (point.tenant, point.plant) != (self.tenant, self.plant):
                self._mismatch(msg.topic, point)
                continue
            rows.append((str(point.id), point.ts_ms, orjson.dumps(item)))
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
