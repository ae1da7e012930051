"""Measurements of the PostgreSQL store: ingest strategies against raw COPY, and series latency.

Everything runs in a scratch schema of the database the DSN names, dropped afterwards, so it can
be pointed at any database without touching its tables. :func:`measure_ingest` and
:func:`measure_series` are meant for ``edgetwin bench``; ``python -m
edgetwin.cloud.store.pg_bench DSN`` prints both as JSON. The numbers in docs/storage.md come
from here.

Each ingest strategy runs the store's full ingest statement (readings, rollups, counters), one
transaction per batch, from ``workers`` concurrent connections. A second pass per strategy
re-sends a share of every worker's batches through the other worker at the same moment (a
retry racing the original, as when the edge gives up on one ingest worker and tries another)
and then checks that every reading is stored exactly once and counted once in the rollups.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from edgetwin.cloud.store.base import SeriesKey
from edgetwin.cloud.store.pg_ingest import (
    COPY_TYPES,
    STAGING_DDL,
    STRATEGIES,
    Row,
    Strategy,
    ingest_rows,
)
from edgetwin.cloud.store.pg_partitions import Retention, maintain
from edgetwin.cloud.store.pg_schema import migrate
from edgetwin.cloud.store.postgres import PgOptions, PostgresStore

Conn = AsyncConnection[TupleRow]
# Six synthetic metrics per machine; their names mean nothing (no fault rules apply to them).
_METRICS = tuple(f"metric-{i}" for i in range(1, 7))
_REBUILD_ROLLUPS = """
INSERT INTO rollup_1m (series_id, bucket, n, total, lo, hi, faults, last_ts, last_value)
SELECT series_id, date_bin('1 minute', ts, 'epoch'), count(*), sum(value), min(value),
       max(value), 0, max(ts), (array_agg(value ORDER BY ts DESC))[1]
FROM readings GROUP BY 1, 2;
INSERT INTO rollup_1h (series_id, bucket, n, total, lo, hi, faults)
SELECT series_id, date_bin('1 hour', bucket, 'epoch'), sum(n), sum(total), min(lo), max(hi), 0
FROM rollup_1m GROUP BY 1, 2;
ANALYZE;
"""


@asynccontextmanager
async def scratch_schema(dsn: str) -> AsyncIterator[str]:
    """A fresh schema with the store's tables; yields a DSN whose search_path points at it."""
    schema = f"edgetwin_bench_{uuid.uuid4().hex[:10]}"
    async with await AsyncConnection.connect(dsn, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            scoped = make_conninfo(dsn, options=f"-c search_path={schema}")
            async with await AsyncConnection.connect(scoped, autocommit=True) as conn:
                await migrate(conn)
                await maintain(conn, Retention(readings_days=0, behind_days=3))
            yield scoped
        finally:
            drop = sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
            await admin.execute(drop)


async def _make_series(conn: Conn, count: int) -> list[int]:
    cur = await conn.execute(
        "INSERT INTO series (tenant, plant, line, machine, metric, unit) "
        "SELECT 'bench', 'plant-01', 'line-' || (i / 54), 'm-' || (i / 6), "
        "(%s::text[])[i %% 6 + 1], 'u' FROM generate_series(0, %s - 1) i RETURNING id",
        (list(_METRICS), count),
    )
    return [int(r[0]) for r in await cur.fetchall()]


def _rows(series: Sequence[int], total: int, start: datetime, hz: float = 1.0) -> list[Row]:
    """``total`` readings, every series once per tick, as a fleet of devices sends them."""
    rng = random.Random(7)
    step = timedelta(seconds=1 / hz)
    rows: list[Row] = []
    tick = 0
    while len(rows) < total:
        ts = start + tick * step
        for sid in series:
            rows.append(
                (ts, uuid.UUID(int=rng.getrandbits(128), version=4), rng.gauss(50, 2), sid, 100)
            )
        tick += 1
    return rows[:total]


def _batches(rows: list[Row], size: int) -> list[list[Row]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


async def _copy_raw(conn: Conn, rows: Sequence[Row]) -> None:
    async with (
        conn.transaction(),
        conn.cursor().copy(
            b"COPY readings (ts, id, value, series_id, q) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(COPY_TYPES)
        for row in rows:
            await copy.write_row(row)


async def _run(dsn: str, strategy: Strategy | None, work: list[list[list[Row]]]) -> float:
    """Run each worker's batches on its own connection; returns the wall time in seconds."""
    conns = [await AsyncConnection.connect(dsn, autocommit=True) for _ in work]
    try:
        for conn in conns:
            await conn.execute(STAGING_DDL)

        async def worker(conn: Conn, batches: list[list[Row]]) -> None:
            for batch in batches:
                if strategy is None:
                    await _copy_raw(conn, batch)
                else:
                    await ingest_rows(conn, batch, historical=False, faults=(), strategy=strategy)

        started = time.perf_counter()
        await asyncio.gather(*(worker(c, w) for c, w in zip(conns, work, strict=True)))
        return time.perf_counter() - started
    finally:
        for conn in conns:
            await conn.close()


async def _exactly_once(dsn: str, expected: int) -> dict[str, Any]:
    async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM readings), (SELECT count(DISTINCT id) FROM readings), "
            "(SELECT sum(n) FROM rollup_1m), (SELECT sum(n) FROM rollup_1h), "
            "(SELECT sum(value) FROM counters WHERE name = 'stored')"
        )
        row = await cur.fetchone()
    assert row is not None
    counts = [int(v or 0) for v in row]
    return {"expected": expected, "rows": counts[0], "ok": counts == [expected] * 5}


async def measure_ingest(
    dsn: str,
    *,
    rows: int = 200_000,
    batch: int = 1000,
    workers: int = 2,
    series: int = 54,
    retry_share: float = 0.2,
    repeat: int = 3,
) -> dict[str, Any]:
    """Rows per second of each strategy and of raw COPY (the median of ``repeat`` runs, each
    into fresh tables), plus an exactly-once check of each strategy."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    results: dict[str, Any] = {"rows": rows, "batch": batch, "workers": workers}
    for strategy in (None, *STRATEGIES):
        name = strategy or "raw_copy"
        entry: dict[str, Any] = {}
        for n in sorted({1, workers}):
            rates = []
            for _ in range(repeat):
                async with scratch_schema(dsn) as scoped:
                    async with await AsyncConnection.connect(scoped, autocommit=True) as conn:
                        ids = await _make_series(conn, series)
                    data = _batches(_rows(ids, rows, start), batch)
                    seconds = await _run(scoped, strategy, [data[i::n] for i in range(n)])
                    rates.append(rows / seconds)
            entry[f"rows_per_s_{n}_workers"] = round(statistics.median(rates))
        if strategy is not None:
            async with scratch_schema(dsn) as scoped:
                async with await AsyncConnection.connect(scoped, autocommit=True) as conn:
                    ids = await _make_series(conn, series)
                data = _batches(_rows(ids, rows // 4, start), batch)
                rng = random.Random(3)
                own = [data[0::2], data[1::2]]
                work = [  # each worker also gets retries of the other's batches
                    [*own[i], *rng.sample(own[1 - i], int(len(own[1 - i]) * retry_share))]
                    for i in range(2)
                ]
                for batches in work:
                    rng.shuffle(batches)
                await _run(scoped, strategy, work)
                entry["exactly_once"] = await _exactly_once(scoped, rows // 4)
        results[name] = entry
    return results


async def measure_series(
    dsn: str, *, hours: int = 24, series: int = 54, buckets: Sequence[int] = (60, 300, 3600, 10)
) -> dict[str, Any]:
    """Latency of ``series()`` over ``hours`` of 1 Hz data of ``series`` series, per bucket
    width, each series queried in turn (10 s buckets read raw readings: no rollup fits)."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(hours=hours)
    out: dict[str, Any] = {"hours": hours, "series": series, "readings": hours * 3600 * series}
    async with scratch_schema(dsn) as scoped:
        async with await AsyncConnection.connect(scoped, autocommit=True) as conn:
            ids = await _make_series(conn, series)
            loaded = time.perf_counter()
            chunk = 3600 * series  # one hour at a time keeps memory flat
            for hour in range(hours):
                rows = _rows(ids, chunk, start + timedelta(hours=hour))
                await _copy_raw(conn, rows)
            await conn.execute(_REBUILD_ROLLUPS.encode())
            out["load_s"] = round(time.perf_counter() - loaded, 1)
            cur = await conn.execute("SELECT tenant, plant, line, machine, metric FROM series")
            keys = [SeriesKey(*r) for r in await cur.fetchall()]
        store = PostgresStore(scoped, PgOptions(pool_size=2))
        await store.start()
        s_ms, e_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        try:
            for bucket in buckets:
                out[f"bucket_{bucket}s_ms"] = await _latencies(store, keys, s_ms, e_ms, bucket)
            # Raw reads become index-only scans once (auto)vacuum has marked the pages visible.
            async with await AsyncConnection.connect(scoped, autocommit=True) as conn:
                await conn.execute("VACUUM (ANALYZE) readings")
            for bucket in buckets:
                if bucket % 60:
                    key = f"bucket_{bucket}s_ms_vacuumed"
                    out[key] = await _latencies(store, keys, s_ms, e_ms, bucket)
        finally:
            await store.close()
    return out


async def _latencies(
    store: PostgresStore, keys: list[SeriesKey], start_ms: int, end_ms: int, bucket: int
) -> dict[str, float]:
    await store.series(keys[0], start_ms, end_ms, bucket)  # warm the cache and plans
    times = []
    for key in keys:
        t0 = time.perf_counter()
        await store.series(key, start_ms, end_ms, bucket)
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "p50": round(statistics.median(times), 1),
        "p95": round(sorted(times)[int(len(times) * 0.95) - 1], 1),
        "max": round(max(times), 1),
    }


async def _main(dsn: str) -> None:
    ingest = await measure_ingest(dsn)
    print(orjson.dumps(ingest, option=orjson.OPT_INDENT_2).decode(), flush=True)
    series = await measure_series(dsn)
    print(orjson.dumps(series, option=orjson.OPT_INDENT_2).decode(), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m edgetwin.cloud.store.pg_bench postgresql://USER@HOST/DB")
    try:
        asyncio.run(_main(sys.argv[1]))
    except psycopg.OperationalError as exc:
        sys.exit(f"cannot reach PostgreSQL: {exc}")
