"""The cloud's services: ingest, queries and counters. Routes, the dashboard and the packs'
cloud parts call these (a pack's own figures, such as the factory's KPIs, are built by the pack
from :meth:`Store.aggregates <edgetwin.cloud.store.base.Store.aggregates>`)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edgetwin.cloud.edges import EdgeRegistry
from edgetwin.cloud.metrics import CloudMetrics
from edgetwin.cloud.store import IngestResult, SeriesKey, Store
from edgetwin.core.point import Point, format_ts, ms_to_datetime


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
        # Live fan-out hook: called with each ingested batch and its historical flag.
        self.on_ingest: list[Callable[[Sequence[Point], bool], None]] = []

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
        for listener in self.on_ingest:
            listener(points, historical)
        return result

    async def reject(self, n: int) -> None:
        self.metrics.rejected.inc(n)
        await self.store.add_counter("rejected", n)

    def sample_rate(self) -> float:
        rate = self.rate.rate()
        self.rate_history.append((time.time(), rate))
        return rate

    async def stats(self) -> dict[str, Any]:
        counters = await self.store.counters()
        return {
            "stored": counters.get("stored", 0),
            "duplicates": counters.get("duplicates", 0),
            "rejected": counters.get("rejected", 0),
            "historical": counters.get("historical", 0),
            "ingest_rate_per_s": round(self.rate.rate(), 2),
            "edges": self.edges.public(),
            "alerts": self.edges.alerts(),
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
                    "avg": round(b.avg, 6),
                    "min": b.min,
                    "max": b.max,
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
                    "id": f"{plant_name}/{v.line}/{v.machine}",
                    "tenant": tenant,
                    "plant": plant_name,
                    "line": v.line,
                    "machine": v.machine,
                    "last_seen": None,
                    "_last_ms": 0,
                    "metrics": {},
                },
            )
            dev["metrics"][v.metric] = {
                "value": v.value,
                "unit": v.unit,
                "ts": format_ts(ms_to_datetime(v.ts_ms)),
            }
            if v.ts_ms > dev["_last_ms"]:
                dev["_last_ms"] = v.ts_ms
                dev["last_seen"] = format_ts(ms_to_datetime(v.ts_ms))
        result = []
        for dev in out.values():
            dev["online"] = now_ms - dev.pop("_last_ms") < 10_000  # three missed 2 s cycles or more
            result.append(dev)
        return result
