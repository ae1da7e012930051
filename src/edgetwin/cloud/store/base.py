"""The store interface. Every query is scoped by tenant and plant."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgetwin.core.point import Point

FaultRules = Mapping[str, frozenset[int]]
"""metric name -> the codes that count as a fault (from the enabled packs' device types, see
:func:`edgetwin.core.device.fault_rules`). A store counts a reading as a fault when its metric has
a rule and its value equals one of the codes; with no rules it counts none."""


@dataclass(frozen=True)
class IngestResult:
    """What an ingest stored: ``accepted`` new readings, ``duplicate`` ones it already held.

    ``new_ids``: the ids of the readings stored by this call, when some were not (a duplicate,
    or a repeated id within the batch); None when every reading of the call was new. The live
    stream carries only these, so a reading reaches it once.
    """

    accepted: int
    duplicate: int
    new_ids: frozenset[uuid.UUID] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SeriesKey:
    tenant: str
    plant: str
    line: str
    machine: str
    metric: str


@dataclass(frozen=True)
class Bucket:
    start_ms: int
    avg: float
    min: float
    max: float
    count: int


@dataclass(frozen=True)
class MetricAggregate:
    line: str
    machine: str
    metric: str
    avg: float
    total: float
    count: int
    faults: int  # readings whose value is a fault code of their metric (the store's fault rules)


@dataclass(frozen=True)
class LatestValue:
    line: str
    machine: str
    metric: str
    unit: str
    ts_ms: int
    value: float


class Store(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ingest(self, points: Sequence[Point], *, historical: bool) -> IngestResult:
        """Store readings exactly once (idempotent on id); returns after the commit."""
        ...

    async def series(
        self, key: SeriesKey, start_ms: int, end_ms: int, bucket_s: int
    ) -> list[Bucket]: ...

    async def aggregates(self, tenant: str, plant: str, start_ms: int) -> list[MetricAggregate]: ...

    async def latest(self, tenant: str, plant: str | None = None) -> list[tuple[str, LatestValue]]:
        """The newest value of every series: ``(plant, value)`` pairs."""
        ...

    async def unit_of(self, key: SeriesKey) -> str | None: ...

    async def counters(self) -> dict[str, int]:
        """Persistent counters: ``stored``, ``duplicates``, ``historical``."""
        ...

    async def add_counter(self, name: str, delta: int) -> None: ...

    def describe(self) -> dict[str, Any]: ...
