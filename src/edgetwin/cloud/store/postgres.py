"""PostgreSQL store: the production store, shared by any number of ingest workers.

Readings live in ``readings``, partitioned by day (:mod:`pg_partitions`), keyed by (ts, id) so a
retried reading is stored once; names live once in ``series``; 1-minute and 1-hour rollups are
updated in the ingest transaction (:mod:`pg_ingest`) and answer long ranges
(:mod:`rollups`, :mod:`pg_queries`). The schema is versioned (:mod:`pg_schema`).

Connections come from an async pool opened in :meth:`PostgresStore.start`. Whatever stops the
database from committing (server down, restarting, pool exhausted) raises
:class:`StoreUnavailableError`, which the API answers with 503, so the edge keeps the readings
in its buffer and sends them again. Connections are checked when taken from the pool, so once the
server is back the pool replaces its dead connections by itself; nothing needs a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, LiteralString

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from edgetwin.cloud.store.base import (
    Bucket,
    FaultRules,
    IngestResult,
    LatestValue,
    MetricAggregate,
    SeriesKey,
)
from edgetwin.cloud.store.pg_faults import apply_rules
from edgetwin.cloud.store.pg_ingest import ingest_rows
from edgetwin.cloud.store.pg_partitions import Retention, maintain
from edgetwin.cloud.store.pg_queries import LATEST_SQL, aggregates_query, series_query
from edgetwin.cloud.store.pg_schema import migrate
from edgetwin.cloud.store.rollups import cover, usable_rollups
from edgetwin.core.errors import StoreUnavailableError
from edgetwin.core.point import Point

if TYPE_CHECKING:
    from edgetwin.core.settings import Settings

log = logging.getLogger("edgetwin.cloud.store.postgres")

Key = tuple[str, str, str, str, str]
Conn = AsyncConnection[TupleRow]
_RECONNECT_S = 5.0
_RETRIES = 3  # a deadlock or serialization failure aborts the whole transaction: run it again


@dataclass(frozen=True)
class PgOptions:
    pool_size: int = 8
    pool_timeout_s: float = 3.0  # how long a request waits for a connection before 503
    start_timeout_s: float = 30.0
    maintenance_interval_s: float = 600.0
    retention: Retention = field(default_factory=Retention)

    @classmethod
    def from_settings(cls, settings: Settings) -> PgOptions:
        return cls(
            pool_size=settings.pg_pool_size,
            pool_timeout_s=settings.pg_pool_timeout_s,
            retention=Retention(
                readings_days=settings.retention_days,
                rollup_days=settings.rollup_retention_days,
            ),
        )


def redact(url: str) -> str:
    """The URL without its password, fit for logs and ``/api/v1/stats``."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


class PostgresStore:
    """``fault_rules``: which readings count as faults (see :mod:`pg_faults`)."""

    def __init__(
        self, url: str, options: PgOptions | None = None, fault_rules: FaultRules | None = None
    ) -> None:
        self.url = url
        self.options = options or PgOptions()
        self.fault_rules: dict[str, frozenset[int]] = dict(fault_rules or {})
        self.schema_version: int | None = None
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._series: dict[Key, int] = {}
        self._fault_codes: dict[int, frozenset[int]] = {}  # series id -> its fault codes
        self._maintenance: asyncio.Task[None] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "postgresql",
            "url": redact(self.url),
            "schema_version": self.schema_version,
            "retention_days": self.options.retention.readings_days,
            "rollup_retention_days": self.options.retention.rollup_days,
        }

    async def start(self) -> None:
        """Open the pool, migrate the schema, create partitions ahead, start maintenance.

        Raises:
            StoreUnavailableError: the database cannot be reached within ``start_timeout_s``.
        """
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.options.pool_size,
            open=False,
            kwargs={"autocommit": True, "application_name": "edgetwin-cloud"},
            check=AsyncConnectionPool.check_connection,
            timeout=self.options.pool_timeout_s,
            reconnect_timeout=self.options.start_timeout_s,
            name="edgetwin-store",
        )
        try:
            await pool.open(wait=True, timeout=self.options.start_timeout_s)
        except psycopg.OperationalError as exc:
            await pool.close()
            raise StoreUnavailableError(
                f"PostgreSQL at {redact(self.url)} unreachable: {exc}"
            ) from exc
        # From now on give up a chain of reconnection attempts (backoff 1, 2, 4 s ...) early:
        # the next request starts a fresh one at once, so once the server is back the pool
        # finds it within seconds instead of after a long backoff delay.
        pool.reconnect_timeout = _RECONNECT_S
        self._pool = pool
        try:
            async with self._conn() as conn:
                self.schema_version = await migrate(conn)
                await apply_rules(conn, self.fault_rules)
                report = await maintain(conn, self.options.retention)
        except BaseException:
            await self.close()  # a refused or failed upgrade leaves no pool behind
            raise
        log.info("PostgreSQL schema v%s; partitions %s", self.schema_version, report)
        self._maintenance = asyncio.create_task(self._maintain_forever(), name="pg-maintenance")

    async def close(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        """A pooled connection; any failure to reach or use the server becomes unavailable."""
        if self._pool is None:
            raise StoreUnavailableError("PostgreSQL store is not started")
        try:
            async with self._pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"PostgreSQL: {exc}") from exc

    async def _maintain_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.maintenance_interval_s)
            try:
                async with self._conn() as conn:
                    report = await maintain(conn, self.options.retention)
                if report.created or report.dropped or report.adopted_rows:
                    log.info("PostgreSQL maintenance: %s", report)
            except (StoreUnavailableError, psycopg.Error) as exc:
                # Never let maintenance die: a missed run only postpones partitions ahead
                # (the default partition catches readings meanwhile) and retention.
                log.warning("PostgreSQL maintenance postponed: %s", exc)

    # -- writes --
    async def ingest(self, points: Sequence[Point], *, historical: bool) -> IngestResult:
        if not points:
            return IngestResult(0, 0)
        for attempt in range(1, _RETRIES + 1):
            try:
                async with self._conn() as conn:
                    sids = await self._series_ids(conn, points)
                    rows = [
                        (p.ts, p.id, p.value, sid, p.q) for p, sid in zip(points, sids, strict=True)
                    ]
                    accepted, new_ids = await ingest_rows(
                        conn, rows, historical=historical, faults=self._faults_of(sids)
                    )
                fresh = None if accepted == len(points) else frozenset(new_ids or ())
                return IngestResult(accepted, len(points) - accepted, fresh)
            except StoreUnavailableError as exc:
                rollback = isinstance(exc.__cause__, psycopg.errors.TransactionRollback)
                if not rollback or attempt == _RETRIES:
                    raise
                log.warning("ingest transaction rolled back (%s); attempt %d", exc, attempt + 1)
        raise AssertionError("unreachable")

    def _remember(self, key: Key, sid: int) -> None:
        self._series[key] = sid
        codes = self.fault_rules.get(key[4])
        if codes:
            self._fault_codes[sid] = codes

    def _faults_of(self, sids: Sequence[int]) -> list[tuple[int, float]]:
        """The (series id, code) fault pairs of the series among ``sids``, in order."""
        if not self._fault_codes:
            return []
        codes = self._fault_codes
        return [(sid, float(c)) for sid in sorted(set(sids)) if sid in codes for c in codes[sid]]

    async def _series_ids(self, conn: Conn, points: Sequence[Point]) -> list[int]:
        """The series id of each reading, creating the missing series in their own short
        transaction (so a new series' row lock is not held for the whole ingest)."""
        keys = [p.series_key for p in points]  # once per reading: this is the hot path
        known = self._series
        units = {k: p.unit for k, p in zip(keys, points, strict=True) if k not in known}
        if units:
            new = sorted(units)
            cols = [list(c) for c in zip(*new, strict=True)]
            await conn.execute(
                "INSERT INTO series (tenant, plant, line, machine, metric, unit) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
                "%s::text[], %s::text[]) ORDER BY 1, 2, 3, 4, 5 ON CONFLICT DO NOTHING",
                [*cols, [units[k] for k in new]],
            )
            cur = await conn.execute(
                "SELECT s.id, s.tenant, s.plant, s.line, s.machine, s.metric FROM series s "
                "JOIN unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) "
                "AS k(tenant, plant, line, machine, metric) "
                "USING (tenant, plant, line, machine, metric)",
                cols,
            )
            for sid, *key in await cur.fetchall():
                self._remember((key[0], key[1], key[2], key[3], key[4]), int(sid))
        return [known[k] for k in keys]

    async def add_counter(self, name: str, delta: int) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "INSERT INTO counters AS c (name, shard, value) "
                "VALUES (%s, (pg_backend_pid() %% 16)::smallint, %s) "
                "ON CONFLICT (name, shard) DO UPDATE SET value = c.value + excluded.value",
                (name, delta),
            )

    # -- reads --
    async def _fetch(
        self, query: LiteralString | sql.Composed, args: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        async with self._conn() as conn:
            cur = await conn.execute(query, args)
            return await cur.fetchall()

    async def _series_id(self, key: SeriesKey) -> int | None:
        k = (key.tenant, key.plant, key.line, key.machine, key.metric)
        if k not in self._series:
            rows = await self._fetch(
                "SELECT id FROM series WHERE tenant = %s AND plant = %s AND line = %s "
                "AND machine = %s AND metric = %s",
                k,
            )
            if not rows:
                return None
            self._remember(k, int(rows[0][0]))
        return self._series[k]

    async def series(
        self, key: SeriesKey, start_ms: int, end_ms: int, bucket_s: int
    ) -> list[Bucket]:
        sid = await self._series_id(key)
        if sid is None:
            return []
        rollups = usable_rollups(bucket_s * 1000, end_ms - start_ms)
        query, args = series_query(sid, bucket_s, cover(start_ms, end_ms, rollups))
        rows = await self._fetch(query, args)
        return [
            Bucket(_ms(b), float(t) / int(n), float(lo), float(hi), int(n))
            for b, t, n, lo, hi in rows
        ]

    async def aggregates(self, tenant: str, plant: str, start_ms: int) -> list[MetricAggregate]:
        span = int(time.time() * 1000) - start_ms
        segments = cover(start_ms, None, usable_rollups(None, span))
        query, args = aggregates_query(tenant, plant, segments, self.fault_rules)
        rows = await self._fetch(query, args)
        return [
            MetricAggregate(line, machine, metric, float(t) / int(n), float(t), int(n), int(f))
            for line, machine, metric, t, n, f in rows
        ]

    async def latest(self, tenant: str, plant: str | None = None) -> list[tuple[str, LatestValue]]:
        args: list[Any] = [tenant]
        if plant is not None:
            args.append(plant)
        plant_filter = sql.SQL("" if plant is None else "AND s.plant = %s")
        rows = await self._fetch(LATEST_SQL.format(plant_filter), args)
        return [
            (p, LatestValue(line, machine, metric, unit, _ms(ts), float(value)))
            for p, line, machine, metric, unit, ts, value in rows
        ]

    async def unit_of(self, key: SeriesKey) -> str | None:
        rows = await self._fetch(
            "SELECT unit FROM series WHERE tenant = %s AND plant = %s AND line = %s "
            "AND machine = %s AND metric = %s",
            (key.tenant, key.plant, key.line, key.machine, key.metric),
        )
        return str(rows[0][0]) if rows else None

    async def counters(self) -> dict[str, int]:
        rows = await self._fetch("SELECT name, sum(value) FROM counters GROUP BY name", ())
        return {str(name): int(value) for name, value in rows}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(ts: datetime) -> int:
    """Milliseconds since the epoch, floored, as the SQLite store keeps them."""
    return (ts - _EPOCH) // timedelta(milliseconds=1)
