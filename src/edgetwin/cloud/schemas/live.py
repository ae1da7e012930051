"""``WS /api/v1/live``: the messages it sends (a WebSocket has no place in OpenAPI, so these
models are its documentation, checked against real events by the tests).

Every message is one JSON object ``{"type", "topic", "data"}``:

- ``reading``: ``topic`` is the reading's MQTT topic ``v1/{tenant}/{plant}/{line}/{machine}/
  {metric}``; ``data`` is the reading in its wire form (the ``Reading`` schema: ``ts``, ``id``,
  ``tenant``, ``plant``, ``line``, ``machine``, ``metric``, ``value``, ``unit``, ``q``) plus
  ``historical`` (true for backfill after an outage).
- ``alert``: ``topic`` is ``v1/{tenant}/{plant}/alert/{kind}``; ``data`` is an edge's
  :class:`~edgetwin.cloud.schemas.edges.AlertPublic` (times in ISO 8601 UTC), sent when it is
  raised, changes or clears.
- ``command``: ``topic`` is ``v1/{tenant}/{plant}/{line}/{machine}/cmd/{id}``; ``data`` is the
  command (:class:`~edgetwin.cloud.schemas.commands.CommandRecord`) after each move.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edgetwin.cloud.schemas.base import Public
from edgetwin.cloud.schemas.commands import CommandRecord
from edgetwin.cloud.schemas.edges import AlertPublic


class ReadingData(Public):
    """A reading in its wire form, and whether it arrived as backfill."""

    ts: str
    id: str
    tenant: str
    plant: str
    line: str
    machine: str
    metric: str
    value: float
    unit: str
    q: int
    historical: bool


class ReadingEvent(Public):
    type: Literal["reading"]
    topic: str
    data: ReadingData


class AlertEvent(Public):
    type: Literal["alert"]
    topic: str
    data: AlertPublic


class CommandEvent(Public):
    type: Literal["command"]
    topic: str
    data: CommandRecord


LiveEvent = Annotated[ReadingEvent | AlertEvent | CommandEvent, Field(discriminator="type")]
