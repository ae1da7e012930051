"""The edge's plugin protocols: sources, processors, sinks and device links.

The edge is ``sources -> processors -> BUFFER -> sinks`` (Benthos' input -> pipeline -> output):

- A **source** is an async context manager whose constructor does no I/O. Entered, it connects;
  :meth:`Source.deliveries` yields :class:`Delivery` objects. The runtime commits a delivery's
  readings to the buffer and only then calls ``ack()`` (an MQTT PUBACK, a CSV file moved to
  ``done/``); when it cannot commit, it calls ``nack()`` and the source offers them again later.
  A crash between the two makes the source deliver again, and the buffer recognises the ids.
- A **processor** maps readings to readings. It declares with :meth:`Processor.wants` which
  readings it takes; all others pass untouched. An empty result filters. Stateful processors
  return their state with ``state()`` and take it back with ``load()`` after a restart.
- A **sink** writes one batch taken from the buffer: it returns the items refused for good
  (by index, with a reason; they are set aside as dead letters) and raises
  :class:`~edgetwin.core.errors.SinkRetryableError` when nothing can be said yet (target down,
  timeout): the batch stays in the sink's outbox and is offered again.
- A **device link** is a source that can talk back to its devices. The command router asks the
  links which owns a device, instead of branching on protocols.

Plugins are registered by name (one line each) with a pydantic config model
(``extra="forbid"``), validated without I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from edgetwin.core.device import CommandSpec, DeviceType
from edgetwin.core.point import Point


def _noop() -> None:
    return None


@dataclass
class Delivery:
    """Readings from one source, to be committed to the buffer together.

    Attributes:
        points: the readings, in the order they arrived.
        raw: the wire payload of each point (same length), when the source has it; readings
            no processor touches are buffered as the device sent them, not re-encoded.
        ack: call after the buffer committed the readings.
        nack: call when they could not be committed; the source offers them again.
        rejected: how many items of the input were refused (already counted by the source).
    """

    points: Sequence[Point]
    raw: Sequence[bytes] | None = None
    ack: Callable[[], None] = _noop
    nack: Callable[[], None] = _noop
    rejected: int = 0


class Alerting(Protocol):
    """Where plugins raise and clear alerts (the edge's alert list, shown in the cloud)."""

    def raise_(self, kind: str, message: str) -> None: ...
    def clear(self, kind: str) -> None: ...


@dataclass
class PluginContext:
    """What a plugin may know of the edge it runs in; given to its factory, no I/O done yet.

    Attributes:
        tenant, plant, edge_id: the edge's identity; readings carry tenant and plant.
        data_dir: the edge's data directory (``<data-dir>/edge``); plugins keep files under it.
        device_types: every device type the enabled packs declared, by name.
        alerts: where to raise alerts.
        settings: the process settings (broker target and credentials, ports).
    """

    tenant: str
    plant: str
    edge_id: str
    data_dir: Path
    alerts: Alerting
    device_types: dict[str, DeviceType] = field(default_factory=dict)
    settings: Any = None


@runtime_checkable
class Source(Protocol):
    """Yields deliveries of readings; see the module's docstring for the ack contract."""

    name: str

    async def __aenter__(self) -> Source: ...
    async def __aexit__(self, *exc: object) -> None: ...
    def deliveries(self) -> AsyncIterator[Delivery]: ...
    def stats(self) -> dict[str, Any]: ...


@runtime_checkable
class DeviceLink(Protocol):
    """A source that can send commands to the devices it owns.

    ``on_event`` is set by the runtime: the link calls it with ``(line, machine, event)`` for a
    device's acknowledgement (``{"type": "ack", "id", "ok", ...}``), boot banner or restart
    (``{"type": "restarted", "uptime", "uptime_before", "id"}``).
    """

    on_event: Callable[[str, str, dict[str, Any]], None] | None

    def owns(self, line: str, machine: str) -> bool: ...
    def command_spec(self, line: str, machine: str, name: str) -> CommandSpec | None: ...
    async def send(self, line: str, machine: str, command: dict[str, Any]) -> None: ...


@runtime_checkable
class Processor(Protocol):
    """Readings in, readings out; see the module's docstring."""

    name: str

    def wants(self, point: Point) -> bool: ...
    def process(self, points: list[Point]) -> list[Point]: ...
    def state(self) -> dict[str, Any]: ...
    def load(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class BatchInfo:
    """What a sink may tell its target about a batch.

    Attributes:
        historical: the batch is backlog from an outage, sent oldest first.
        waiting: readings in the sink's outbox behind this batch.
        oldest_age_s: age of the oldest reading waiting for this sink, in seconds.
    """

    historical: bool
    waiting: int
    oldest_age_s: float | None


@dataclass(frozen=True)
class WriteResult:
    """A sink's answer for a batch it accepted.

    Attributes:
        refused: index in the batch -> reason, for items refused for good (malformed).
        accepted: items the target newly stored; duplicate: items it already had.
    """

    refused: dict[int, str] = field(default_factory=dict)
    accepted: int = 0
    duplicate: int = 0


@runtime_checkable
class Sink(Protocol):
    """Writes batches from its outbox; see the module's docstring.

    ``remote`` sinks sit behind the edge's uplink and are held by a ``network_outage``. A sink
    may also have ``stats() -> dict[str, Any]`` (optional, not part of the protocol's check):
    what it reports of itself beside its outbox's counters (an OPC UA server's clients, an MES
    sink's records posted), shown in the edge's status as ``sinks.<name>.stats``.
    """

    name: str
    remote: bool

    async def __aenter__(self) -> Sink: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def write(self, payloads: Sequence[bytes], info: BatchInfo) -> WriteResult: ...
