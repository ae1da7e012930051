"""The cloud's services: ingest, queries and counters. Routes, the dashboard and the packs'
cloud parts call these (a pack's own figures, such as the factory's KPIs, are built by the pack
from :meth:`Store.aggregates <edgetwin.cloud.store.base.Store.aggregates>`)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edgetwin.cloud.edges import EdgeRegistry
from edgetwin.cloud.loops import Loops
from edgetwin.cloud.metrics import CloudMetrics
from edgetwin.cloud.params import device_id
from edgetwin.cloud.store import IngestResult, SeriesKey, Store
from edgetwin.core.device import DeviceType
from edgetwin.core.point import Point, format_ts, ms_to_datetime


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def enum_labels(types: Iterable[DeviceType]) -> dict[str, dict[int, str]]:
    """metric name -> its enum labels, from the device types that declare the metric an enum.
    A metric two types label differently gets none (a label must never be a guess)."""
    found: dict[str, dict[int, str]] = {}
    clash: set[str] = set()
    for t in types:
        for m in t.metrics:
            if m.kind != "enum" or not m.states:
                continue
            states = dict(m.states)
            if found.setdefault(m.name, states) != states:
                clash.add(m.name)
    return {k: v for k, v in found.items() if k not in clash}


def stored_once(points: Sequence[Point], result: IngestResult) -> Sequence[Point]:
    """The readings of ``points`` that ``result`` says were stored by this ingest, each once."""
    if result.new_ids is None:
        return points
    seen: set[object] = set()
    out = []
    for p in points:
        if p.id in result.new_ids and p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


class RateMeter:
    """Readings per second over a sliding window."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()

    def add(self, n: int, now: float | None = None) -> None:
        self._events.append((now or time.monotonic(), n))

    def rate(self, now: float | None = None) -> float:
        now = now or time.monotonic()
        while self._events and now - self._events[0][0] > self.window_s:
            self._events.popleft()
        return sum(n for _, n in self._events) / self.window_s


@dataclass
class Services:
    store: Store
    edges: EdgeRegistry
    started: float

    def __post_init__(self) -> None:
        self.metrics = CloudMetrics(self.edges)
        self.rate = RateMeter()
        self.rate_history: deque[tuple[float, float]] = deque(maxlen=1800)
        # Live fan-out hook: called with the readings each ingest stored (each once, duplicates
        # left out) and its historical flag.
        self.on_ingest: list[Callable[[Sequence[Point], bool], None]] = []
        self.loops = Loops(self.metrics.registry)
        # metric -> enum code -> label, from the enabled packs' device types (see enum_labels)
        self.labels: dict[str, dict[int, str]] = {}
        self.types: tuple[DeviceType, ...] = ()  # of the enabled packs
        self.loops.declare("live-fanout")

    async def ingest(self, points: Sequence[Point], *, historical: bool) -> IngestResult:
        started = time.perf_counter()
        result = await self.store.ingest(points, historical=historical)
        self.metrics.ingest_seconds.observe(time.perf_counter() - started)
        if not historical and result.accepted:
            now_ms = time.time() * 1000
            observe = self.metrics.reading_age.observe
            for p in points:  # freshness of live data: reading timestamp -> committed
                observe(max(0.0, (now_ms - p.ts_ms) / 1000))
        self.metrics.accepted.inc(result.accepted)
        self.metrics.duplicates.inc(result.duplicate)
        if historical:
            self.metrics.historical.inc(result.accepted)
        self.rate.add(result.accepted)
        fresh = stored_once(points, result)
        if fresh:
            for listener in self.on_ingest:
                try:
                    listener(fresh, historical)
                except Exception as exc:  # noqa: BLE001 - the readings are stored: answer so
                    self.loops.failed("live-fanout", f"{len(fresh)} reading(s)", exc)
        return result

    async def reject(self, n: int) -> None:
        self.metrics.rejected.inc(n)
        await self.store.add_counter("rejected", n)

    def sample_rate(self) -> float:
        rate = self.rate.rate()
        self.rate_history.append((time.time(), rate))
        return rate

    async def stats(self, sees: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """Counts, and the edges and alerts of the tenants ``sees`` lets through (all: None).
        The counts are the whole store's: totals, not any tenant's objects."""
        counters = await self.store.counters()
        return {
            "stored": counters.get("stored", 0),
            "duplicates": counters.get("duplicates", 0),
            "rejected": counters.get("rejected", 0),
            "historical": counters.get("historical", 0),
            "ingest_rate_per_s": round(self.rate.rate(), 2),
            "edges": self.edges.public(sees),
            "alerts": self.edges.alerts(sees),
            "store": self.store.describe(),
            "uptime_s": round(time.time() - self.started, 1),
        }

    async def series(
        self, key: SeriesKey, start: datetime, end: datetime, bucket_s: int
    ) -> dict[str, Any]:
        start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        buckets = await self.store.series(key, start_ms, end_ms, bucket_s)
        return {
            "tenant": key.tenant,
            "plant": key.plant,
            "line": key.line,
            "machine": key.machine,
            "metric": key.metric,
            "unit": await self.store.unit_of(key),
            "bucket_seconds": bucket_s,
            "start": format_ts(start),
            "end": format_ts(end),
            "points": [
                {
                    "bucket": format_ts(ms_to_datetime(b.start_ms)),
                    # finite for every value the ingest accepts (|value| <= 1e150); None rather
                    # than a 500 for a store that holds older, bigger values
                    "avg": _finite(round(b.avg, 6) if b.avg is not None else None),
                    "min": _finite(b.min),
                    "max": _finite(b.max),
                    "count": b.count,
                }
                for b in buckets
            ],
        }

    async def devices(self, tenant: str, plant: str | None) -> list[dict[str, Any]]:
        now_ms = time.time() * 1000
        out: dict[tuple[str, str, str], dict[str, Any]] = {}
        for plant_name, v in await self.store.latest(tenant, plant):
            dev = out.setdefault(
                (plant_name, v.line, v.machine),
                {
                    "id": device_id(plant_name, v.line, v.machine),
                    "tenant": tenant,
                    "plant": plant_name,
                    "line": v.line,
                    "machine": v.machine,
                    "last_seen": None,
                    "_last_ms": 0,
                    "metrics": {},
                },
            )
            states = self.labels.get(v.metric)
            label = states.get(int(v.value)) if states and v.value.is_integer() else None
            dev["metrics"][v.metric] = {
                "value": v.value,
                **({"label": label} if label is not None else {}),
                "unit": v.unit,
                "ts": format_ts(ms_to_datetime(v.ts_ms)),
            }
            if v.ts_ms > dev["_last_ms"]:
                dev["_last_ms"] = v.ts_ms
                dev["last_seen"] = format_ts(ms_to_datetime(v.ts_ms))
        result = []
        for dev in out.values():
            dev["online"] = now_ms - dev.pop("_last_ms") < 10_000  # three missed 2 s cycles or more
            dev["device_type"] = self.type_of(dev["metrics"])
            result.append(dev)
        return result

    async def device_type_at(self, tenant: str, plant: str, line: str, machine: str) -> str | None:
        """The device type of one device (see :meth:`type_of`); None for an unknown device."""
        for dev in await self.devices(tenant, plant):
            if dev["line"] == line and dev["machine"] == machine:
                return str(dev["device_type"]) if dev["device_type"] else None
        return None

    def type_of(self, metrics: Iterable[str]) -> str | None:
        """The device type a device is, by the metrics it reports: the enabled type that
        declares most of them; None when none declares any, or two tie (never a guess)."""
        names = set(metrics)
        scores = sorted(
            ((sum(m.name in names for m in t.metrics), t.name) for t in self.types), reverse=True
        )
        if not scores or scores[0][0] == 0 or (len(scores) > 1 and scores[1][0] == scores[0][0]):
            return None
        return scores[0][1]
