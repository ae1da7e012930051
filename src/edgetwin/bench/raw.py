"""Raw limits measured on this machine: what SQLite and the edge buffer can do at all, with the
same rows our code writes, so every pipeline figure can be stated as a share of them."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from edgetwin.cloud.store.sqlite import SqliteStore
from edgetwin.core.point import Point, parse_points
from edgetwin.edge.buffer import SqliteBuffer

SERIES = [
    (f"line-{line}", f"machine-{line}{m}", f"metric-{k}")
    for line in range(1, 4)
    for m in range(1, 4)
    for k in range(1, 7)
]  # 54 series: a plant the size of the factory twin, with names of the benchmark's own


def factory_points(n: int, seed: int = 1) -> list[Point]:
    """``n`` readings of 54 series (3 lines x 3 machines x 6 metrics), one cycle every 2 s
    going back in time, values Gaussian around 50 (the shape of the factory twin's data)."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(seconds=2 * (n // len(SERIES) + 1))
    out: list[Point] = []
    i = 0
    while len(out) < n:
        ts = start + timedelta(seconds=2 * i)
        for line, machine, metric in SERIES:
            value = round(rng.gauss(50.0, 2.0), 3)
            out.append(Point.make(ts=ts, tenant="bench", plant="p1", line=line,
                                  machine=machine, metric=metric, value=value, unit="u"))  # fmt: skip
        i += 1
    return out[:n]


def buffer_write_rate(points: list[Point], *, synchronous: str, batch: int) -> float:
    """Readings/s the edge buffer commits (one transaction per ``batch``), given the wire
    payloads as the gateway hands them over (it keeps what the device sent)."""
    rows = [(str(p.id), p.to_json()) for p in points]
    with (
        tempfile.TemporaryDirectory() as tmp,
        SqliteBuffer(Path(tmp) / "b.db", synchronous=synchronous) as buf,
    ):
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            buf.put_rows(rows[i : i + batch])
        return len(rows) / (time.perf_counter() - t0)


def sqlite_raw_insert_rate(points: list[Point], *, batch: int = 1000) -> float:
    """Plain batched INSERTs of the same rows into the SQLite store's own table: the limit."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "s.db")
        asyncio.run(_start_stop(store))
        db = sqlite3.connect(Path(tmp) / "s.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        rows = [(p.id.bytes, 1, p.ts_ms, p.value, p.q) for p in points]
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO readings (id, series_id, ts_ms, value, q) VALUES (?, ?, ?, ?, ?)",
                rows[i : i + batch],
            )
            db.execute("COMMIT")
        rate = len(rows) / (time.perf_counter() - t0)
        db.close()
        return rate


def sqlite_store_ingest_rate(points: list[Point], *, batch: int = 1000) -> float:
    """The SQLite store's full ingest (dedupe, latest values, counters), same rows."""

    async def run() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "s.db")
            await store.start()
            t0 = time.perf_counter()
            for i in range(0, len(points), batch):
                await store.ingest(points[i : i + batch], historical=False)
            rate = len(points) / (time.perf_counter() - t0)
            await store.close()
            return rate

    return asyncio.run(run())


async def _start_stop(store: SqliteStore) -> None:
    await store.start()
    await store.close()


def per_reading_costs(points: list[Point]) -> dict[str, float]:
    """Microseconds per reading of the CPU steps every reading takes on its way: decoding its
    JSON, validating it into a ``Point`` (done at the edge and again in the cloud), and encoding
    a batch body. The profile of the pipeline, measured rather than assumed."""
    payloads = [p.to_json() for p in points]
    n = len(payloads)
    t0 = time.perf_counter()
    items = [orjson.loads(b) for b in payloads]
    t1 = time.perf_counter()
    parse_points(items)
    t2 = time.perf_counter()
    b"[" + b",".join(payloads) + b"]"
    t3 = time.perf_counter()
    return {
        "json_decode_us": round((t1 - t0) / n * 1e6, 2),
        "validate_us": round((t2 - t1) / n * 1e6, 2),
        "batch_encode_us": round((t3 - t2) / n * 1e6, 3),
    }


def measure(quick: bool) -> dict[str, Any]:
    n = 50_000 if quick else 300_000
    points = factory_points(n)
    return {
        "rows": n,
        "sqlite_raw_insert_per_s": round(sqlite_raw_insert_rate(points)),
        "sqlite_store_ingest_per_s": round(sqlite_store_ingest_rate(points)),
        "buffer_full_1000_per_s": round(buffer_write_rate(points, synchronous="FULL", batch=1000)),
        "buffer_normal_1000_per_s": round(
            buffer_write_rate(points, synchronous="NORMAL", batch=1000)
        ),
        "buffer_full_54_per_s": round(
            buffer_write_rate(points[: n // 5], synchronous="FULL", batch=54)
        ),
        "buffer_normal_54_per_s": round(
            buffer_write_rate(points[: n // 5], synchronous="NORMAL", batch=54)
        ),
        "per_reading": per_reading_costs(points[:50_000]),
    }
