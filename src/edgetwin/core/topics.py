"""MQTT topics of the unified namespace.

Readings: ``v1/{tenant}/{plant}/{line}/{machine}/{metric}``.
Commands: ``v1/{tenant}/{plant}/cmd`` (plant-wide) and ``v1/{tenant}/{plant}/{line}/{machine}/cmd``.
Status (retained): ``v1/{tenant}/{plant}/status/{component}``.
Batches: ``v1/{tenant}/{plant}/batch/{source}``, a JSON array of readings in one message.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from edgetwin.core.ids import valid_segment

VERSION = "v1"


class ReadingTopic(NamedTuple):
    tenant: str
    plant: str
    line: str
    machine: str
    metric: str


RESERVED_METRIC: Final = "cmd"
"""No metric may be called ``cmd``: ``v1/{tenant}/{plant}/{line}/{machine}/cmd`` is the device's
command topic. MQTT intake counts such a reading as ``reserved_name``, HTTP ingest answers 422."""


def reading_topic(tenant: str, plant: str, line: str, machine: str, metric: str) -> str:
    return f"{VERSION}/{tenant}/{plant}/{line}/{machine}/{metric}"


def parse_reading_topic(topic: str) -> ReadingTopic | None:
    """Parse a reading topic; ``None`` if it is not one (commands, status, foreign topics)."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != VERSION:
        return None
    if not all(valid_segment(p) for p in parts[1:]) or parts[5] == RESERVED_METRIC:
        return None
    return ReadingTopic(*parts[1:])


def plant_filter(tenant: str, plant: str) -> str:
    """Subscription filter for every reading of one plant."""
    return f"{VERSION}/{tenant}/{plant}/+/+/+"


def command_topic(
    tenant: str, plant: str, line: str | None = None, machine: str | None = None
) -> str:
    if (line is None) != (machine is None):
        raise ValueError("give both line and machine, or neither")
    if line is None:
        return f"{VERSION}/{tenant}/{plant}/cmd"
    return f"{VERSION}/{tenant}/{plant}/{line}/{machine}/cmd"


def batch_topic(tenant: str, plant: str, source: str) -> str:
    """Where a device or gateway publishes a JSON array of the plant's readings at once."""
    return f"{VERSION}/{tenant}/{plant}/batch/{source}"


def status_topic(tenant: str, plant: str, component: str) -> str:
    return f"{VERSION}/{tenant}/{plant}/status/{component}"


def command_result_topic(tenant: str, plant: str, line: str, machine: str) -> str:
    """Where an edge reports a device command's progress (``delivered``, ``succeeded``...).

    Seven segments, so the plant's reading filter (``+/+/+``) never matches it."""
    return f"{command_topic(tenant, plant, line, machine)}/ack"


def command_result_filter() -> str:
    return f"{VERSION}/+/+/+/+/cmd/ack"


def device_command_topic(tenant: str, plant: str, line: str, machine: str) -> str:
    """Where an edge hands a command to a device that speaks MQTT (``{"id", "name", "args"}``).

    The cloud's command topic ends at ``cmd`` and reaches the edge, which keeps the at-most-once
    and expiry promises; only the edge publishes here."""
    return f"{command_topic(tenant, plant, line, machine)}/device"


def device_reply_topic(tenant: str, plant: str, line: str, machine: str) -> str:
    """Where an MQTT device answers a command: ``{"id", "ok", "detail"}`` or ``{"id", "ok":
    false, "error"}``."""
    return f"{command_topic(tenant, plant, line, machine)}/reply"


def device_reply_filter(tenant: str, plant: str) -> str:
    return f"{VERSION}/{tenant}/{plant}/+/+/cmd/reply"


def shared(topic_filter: str, group: str | None) -> str:
    """``topic_filter`` as an MQTT shared subscription of ``group`` (each message goes to one
    member of the group), or unchanged without a group."""
    return f"$share/{group}/{topic_filter}" if group else topic_filter
