"""Readings for the store suite, and what a store must answer for them, computed by brute force
from the readings themselves (the specification the stores are held to)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from edgetwin.cloud.store.base import FaultRules, SeriesKey
from edgetwin.core.device import fault_rules
from edgetwin.core.point import Point, ms_to_datetime
from edgetwin.packs.factory.device_types import DEVICE_TYPES
from edgetwin.packs.factory.model import Faults, cycle

FACTORY_RULES = fault_rules(DEVICE_TYPES)  # what the factory's device type counts as a fault

TEMP = SeriesKey("acme", "plant-01", "line-01", "cnc-01", "temp")


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def now_ms() -> int:
    return int(time.time() * 1000)


def reading(
    ts_ms: int,
    value: float,
    key: SeriesKey = TEMP,
    unit: str = "°C",
    id: uuid.UUID | None = None,
) -> Point:
    return Point.make(
        ts=ms_to_datetime(ts_ms),
        tenant=key.tenant,
        plant=key.plant,
        line=key.line,
        machine=key.machine,
        metric=key.metric,
        value=value,
        unit=unit,
        id=id,
    )


def factory(ts: datetime, seed: int, faults: Faults | None = None, **where: str) -> list[Point]:
    """One 2 s cycle of the factory: 54 readings (tenant/plant overridable)."""
    tenant, plant = where.get("tenant", "acme"), where.get("plant", "plant-01")
    return cycle(ts, faults or Faults(), random.Random(seed), tenant, plant)


def chunks(points: Sequence[Point], size: int) -> list[Sequence[Point]]:
    return [points[i : i + size] for i in range(0, len(points), size)]


@dataclass(frozen=True)
class Expected:
    start_ms: int
    avg: float
    min: float
    max: float
    count: int


def expected_series(
    points: Iterable[Point], key: SeriesKey, start_ms: int, end_ms: int, bucket_s: int
) -> list[Expected]:
    width = bucket_s * 1000
    groups: dict[int, list[float]] = {}
    for p in points:
        wanted = p.series_key == (key.tenant, key.plant, key.line, key.machine, key.metric)
        if wanted and start_ms <= p.ts_ms < end_ms:
            groups.setdefault(p.ts_ms // width * width, []).append(p.value)
    return [Expected(b, sum(v) / len(v), min(v), max(v), len(v)) for b, v in sorted(groups.items())]


def expected_aggregates(
    points: Iterable[Point],
    tenant: str,
    plant: str,
    start_ms: int,
    rules: FaultRules = FACTORY_RULES,
) -> dict[tuple[str, str, str], tuple[float, int, int]]:
    """(line, machine, metric) -> (sum, count, faults), a fault being a reading whose value is
    one of its metric's codes in ``rules``."""
    out: dict[tuple[str, str, str], tuple[float, int, int]] = {}
    for p in points:
        if p.tenant == tenant and p.plant == plant and p.ts_ms >= start_ms:
            total, count, faults = out.get((p.line, p.machine, p.metric), (0.0, 0, 0))
            fault = int(p.value in rules.get(p.metric, ()))
            out[(p.line, p.machine, p.metric)] = (total + p.value, count + 1, faults + fault)
    return out
