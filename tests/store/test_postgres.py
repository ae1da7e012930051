"""What only the PostgreSQL store has: migrations, partitions and retention, rollups under
racing workers, query plans, and riding out a database outage."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from edgetwin.cloud.store.base import IngestResult
from edgetwin.cloud.store.pg_partitions import Retention, maintain, partition_days, partition_name
from edgetwin.cloud.store.pg_queries import series_query
from edgetwin.cloud.store.pg_schema import LOCK_CLASS, LOCK_MAINTAIN, migrate, newest_version
from edgetwin.cloud.store.postgres import PgOptions, PostgresStore
from edgetwin.cloud.store.rollups import cover, usable_rollups
from edgetwin.compose import build_app
from edgetwin.core.errors import ConfigError, StoreUnavailableError
from edgetwin.core.settings import load_settings
from tests.conftest import bearer
from tests.store.data import TEMP, chunks, expected_series, factory, now_ms, now_s, reading
from tests.store.pg import OwnPostgres

Conn = AsyncConnection[TupleRow]
DAY = timedelta(days=1)


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[Conn]:
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        yield conn


@asynccontextmanager
async def started(url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(url, PgOptions())
    await store.start()
    try:
        yield store
    finally:
        await store.close()


async def scalar(conn: Conn, query: str) -> Any:
    cur = await conn.execute(query.encode())
    row = await cur.fetchone()
    return None if row is None else row[0]


def test_upgrades_a_version_1_database(pg_url: str) -> None:
    """A database left by release 1 (no rollups, current values in ``series``) is migrated at
    start: rollups backfilled from its readings, its readings answer every query."""
    t0 = now_ms() - 3 * 3_600_000 - 777
    points = [reading(t0 + i * 10_000, 40 + (i % 17)) for i in range(1000)]

    async def scenario() -> None:
        async with connect(pg_url) as conn:
            assert await migrate(conn, target=1) == 1
            cur = await conn.execute(
                "INSERT INTO series (tenant, plant, line, machine, metric, unit, last_ts, "
                "last_value) VALUES ('acme', 'plant-01', 'line-01', 'cnc-01', 'temp', '°C', "
                "%s, %s) RETURNING id",
                (points[-1].ts, points[-1].value),
            )
            row = await cur.fetchone()
            assert row is not None
            async with conn.cursor() as c:
                await c.executemany(
                    "INSERT INTO readings (ts, id, value, series_id, q) VALUES (%s, %s, %s, %s, 100)",
                    [(p.ts, p.id, p.value, row[0]) for p in points],
                )
            await conn.execute("UPDATE counters SET value = 1000 WHERE name = 'stored'")
        async with started(pg_url) as store:
            assert store.schema_version == newest_version()
            start, end = t0, points[-1].ts_ms + 1
            got = await store.series(TEMP, start, end, 3600)
            want = expected_series(points, TEMP, start, end, 3600)
            assert [(b.start_ms, b.count, b.min, b.max) for b in got] == [
                (e.start_ms, e.count, e.min, e.max) for e in want
            ]
            latest = await store.latest("acme")
            assert [(v.ts_ms, v.value) for _p, v in latest] == [
                (points[-1].ts_ms, points[-1].value)
            ]
            assert (await store.counters())["stored"] == 1000
            assert await store.ingest(points[:5], historical=False) == IngestResult(0, 5)
        async with connect(pg_url) as conn:
            cur = await conn.execute("SELECT version FROM schema_version ORDER BY version")
            assert [r[0] for r in await cur.fetchall()] == list(range(1, newest_version() + 1))
            assert await scalar(conn, "SELECT count(*) FROM readings_default") == 0  # adopted

    asyncio.run(scenario())


def test_workers_starting_together_migrate_once(pg_url: str) -> None:
    async def scenario() -> None:
        stores = [PostgresStore(pg_url) for _ in range(3)]
        await asyncio.gather(*(s.start() for s in stores))
        assert [s.schema_version for s in stores] == [newest_version()] * 3
        for s in stores:
            await s.close()
        async with connect(pg_url) as conn:
            assert await scalar(conn, "SELECT count(*) FROM schema_version") == newest_version()

    asyncio.run(scenario())


def test_refuses_a_schema_newer_than_itself(pg_url: str) -> None:
    async def scenario() -> None:
        async with started(pg_url):
            pass
        async with connect(pg_url) as conn:
            await conn.execute("INSERT INTO schema_version (version, name) VALUES (99, 'future')")
        store = PostgresStore(pg_url)
        with pytest.raises(ConfigError, match="version 99"):
            await store.start()
        await store.close()

    asyncio.run(scenario())


def test_partitions_ahead_on_demand_and_retention(pg_url: str) -> None:
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    today = now.date()
    old, future, ancient = now - 20 * DAY, now + 10 * DAY, now - 45 * DAY
    points = [reading(int(t.timestamp() * 1000), 1.0) for t in (old, future, ancient)]

    async def scenario() -> None:
        async with started(pg_url) as store, connect(pg_url) as conn:
            days = await partition_days(conn)
            assert {today + d * DAY for d in range(-2, 4)} <= days
            assert (await store.ingest(points, historical=True)).accepted == 3  # none fails
            assert await scalar(conn, "SELECT count(*) FROM readings_default") == 3

            report = await maintain(conn, Retention(readings_days=30), now=now)
            assert report.created == [partition_name(old.date())]
            assert (report.adopted_rows, report.deleted_rows) == (1, 1)  # old adopted, ancient gone
            report = await maintain(conn, Retention(readings_days=30), now=now + 8 * DAY)
            assert partition_name(future.date()) in report.created
            assert report.adopted_rows == 1
            assert await scalar(conn, "SELECT count(*) FROM readings_default") == 0
            assert await scalar(conn, "SELECT count(*) FROM readings") == 2

            # Another worker holds the maintenance lock: this one skips.
            async with connect(pg_url) as other:
                await other.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_MAINTAIN))
                assert (await maintain(conn, Retention(), now=now)).skipped
                await other.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, LOCK_MAINTAIN)
                )

            # Time passes: the old day's partition falls out of retention, its rollups stay.
            report = await maintain(conn, Retention(readings_days=30), now=now + 15 * DAY)
            assert partition_name(old.date()) in report.dropped
            assert await scalar(conn, "SELECT count(*) FROM readings") == 1
            ms = int(old.timestamp() * 1000)
            day = await store.series(TEMP, ms - 11 * 3_600_000, ms + 11 * 3_600_000, 3600)
            assert [(b.start_ms, b.count) for b in day] == [(ms, 1)]

    asyncio.run(scenario())


def test_racing_workers_count_every_reading_once_in_rollups(pg_url: str) -> None:
    base = now_s() - timedelta(hours=1)
    points = [p for i in range(60) for p in factory(base + timedelta(seconds=30 * i), seed=i)]
    batches = chunks(points, 270)
    rng = random.Random(9)

    async def scenario() -> None:
        async with started(pg_url) as a, started(pg_url) as b:
            sends = [(a, x) for x in batches] + [(b, x) for x in rng.sample(batches, 8)]
            sends += [(b, x) for x in chunks(points[135:], 270)]
            rng.shuffle(sends)
            results = await asyncio.gather(*(s.ingest(x, historical=False) for s, x in sends))
            sent = sum(len(x) for _s, x in sends)
            assert sum(r.accepted for r in results) == len(points)
            counters = await a.counters()
            assert (counters["stored"], counters["duplicates"]) == (len(points), sent - len(points))
        async with connect(pg_url) as conn:
            for query in (
                "SELECT count(DISTINCT (ts, id)) FROM readings",
                "SELECT count(*) FROM readings",
                "SELECT sum(n) FROM rollup_1m",
                "SELECT sum(n) FROM rollup_1h",
            ):
                assert await scalar(conn, query) == len(points), query

    asyncio.run(scenario())


def _plan(pg_url: str, series_id: int, hours: int, bucket_s: int) -> str:
    end = now_ms()
    start = end - hours * 3_600_000 - 1234
    query, args = series_query(
        series_id, bucket_s, cover(start, end, usable_rollups(bucket_s * 1000, end - start))
    )

    async def explain() -> str:
        async with connect(pg_url) as conn:
            # A few test rows make any scan cheap; forbidding sequential scans shows whether an
            # index *can* answer (docs/storage.md has the plans over 24 h of real volume).
            await conn.execute("SET enable_seqscan = off")
            cur = await conn.execute(b"EXPLAIN " + query.as_bytes(conn), args)
            return "\n".join(str(r[0]) for r in await cur.fetchall())

    return asyncio.run(explain())


def test_series_plans_read_rollups_and_only_the_partitions_in_range(pg_url: str) -> None:
    async def load() -> int:
        async with started(pg_url) as store, connect(pg_url) as conn:
            await store.ingest(factory(now_s(), 1), historical=False)
            await conn.execute("ANALYZE")
            return int(await scalar(conn, "SELECT id FROM series WHERE metric = 'temp' LIMIT 1"))

    sid = asyncio.run(load())
    plan = _plan(pg_url, sid, 24, 60)
    assert "rollup_1m" in plan
    assert "rollup_1h" not in plan
    assert "readings_default" not in plan  # pruned: the range is covered by daily partitions
    assert "Seq Scan" not in plan
    long = _plan(pg_url, sid, 48, 3600)
    assert "rollup_1h" in long
    raw = _plan(pg_url, sid, 1, 10)
    assert "rollup" not in raw
    assert "readings_series_ts" in raw or "series_id_ts" in raw  # the (series_id, ts) index
    assert partition_name((datetime.now(UTC) - 5 * DAY).date()) not in raw


def test_database_outage_answers_503_and_recovers_by_itself(
    own_pg: OwnPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment, because the app hands the store only its URL (the store reads the rest).
    monkeypatch.setenv("EDGETWIN_PG_POOL_TIMEOUT_S", "1.0")
    settings = load_settings(data_dir=tmp_path, db=own_pg.url, mqtt_url="mqtt://127.0.0.1:1")
    first = [p.to_wire() for p in factory(now_s(), 1)]
    second = [p.to_wire() for p in factory(now_s() + timedelta(seconds=2), 2)]
    with TestClient(
        build_app(settings, dashboard=False), headers=bearer(settings.data_dir)
    ) as client:
        assert client.post("/api/v1/ingest", json=first).json() == {"accepted": 54, "duplicate": 0}
        own_pg.stop()
        started_at = time.monotonic()
        r = client.post("/api/v1/ingest", json=second)
        assert r.status_code == 503, r.text
        assert time.monotonic() - started_at < 5
        assert "retry later" in r.json()["detail"]
        assert client.get("/api/v1/stats").status_code == 503
        own_pg.start()
        deadline = time.monotonic() + 30
        while True:
            r = client.post("/api/v1/ingest", json=second)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert r.json() == {"accepted": 54, "duplicate": 0}
        assert client.get("/api/v1/stats").json()["stored"] == 108


def test_store_unreachable_at_start_is_unavailable_not_a_crash() -> None:
    async def scenario() -> None:
        store = PostgresStore(
            "postgresql://postgres@127.0.0.1:1/none", PgOptions(start_timeout_s=1)
        )
        with pytest.raises(StoreUnavailableError, match="unreachable"):
            await store.start()
        with pytest.raises(StoreUnavailableError):
            await store.ingest(factory(now_s(), 1), historical=False)

    asyncio.run(scenario())


def test_describe_never_shows_the_password() -> None:
    store = PostgresStore("postgresql://edge:s3cret@db.example:5433/plant")
    assert store.describe()["url"] == "postgresql://edge@db.example:5433/plant"
    assert "s3cret" not in repr(store.describe())
    assert isinstance(httpx.URL(store.describe()["url"]), httpx.URL)
