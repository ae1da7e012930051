"""SQLite store: the embedded default. One writer thread, one reader thread, WAL mode.

Readings live in a narrow table keyed by the reading's UUID (idempotent ingest); the series
table holds the names once and the newest value per series, updated only by newer readings, so
a backfill never replaces what the dashboard shows as current.
"""

from __future__ import annotations

import asyncio
import functools
import math
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from edgetwin.cloud.store.base import (
    Bucket,
    FaultRules,
    IngestResult,
    LatestValue,
    MetricAggregate,
    SeriesKey,
)
from edgetwin.core.errors import StoreUnavailableError
from edgetwin.core.point import Point

T = TypeVar("T")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL, plant TEXT NOT NULL, line TEXT NOT NULL,
    machine TEXT NOT NULL, metric TEXT NOT NULL, unit TEXT NOT NULL,
    last_ts_ms INTEGER, last_value REAL,
    UNIQUE (tenant, plant, line, machine, metric)
);
CREATE TABLE IF NOT EXISTS readings (
    id BLOB PRIMARY KEY,
    series_id INTEGER NOT NULL REFERENCES series(id),
    ts_ms INTEGER NOT NULL,
    value REAL NOT NULL,
    q INTEGER NOT NULL,
    historical INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_series_ts ON readings (series_id, ts_ms);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('stored', 0), ('duplicates', 0),
    ('historical', 0), ('rejected', 0);
"""


class SqliteStore:
    """``fault_rules``: which readings :meth:`aggregates` counts as faults (counted when asked,
    so a change of rules applies to every reading at once)."""

    def __init__(self, path: Path, fault_rules: FaultRules | None = None) -> None:
        self.path = path
        self.fault_rules: dict[str, frozenset[int]] = dict(fault_rules or {})
        faults, self._fault_args = _fault_expression(self.fault_rules)
        self._aggregates_sql = (
            "SELECT s.line, s.machine, s.metric, avg(r.value), sum(r.value), count(*), "  # noqa: S608
            + faults  # placeholders only: the rules travel as parameters
            + " FROM series s JOIN readings r ON r.series_id = s.id "
            "WHERE s.tenant = ? AND s.plant = ? AND r.ts_ms >= ? GROUP BY s.id"
        )
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        self._wdb: sqlite3.Connection | None = None
        self._rdb: sqlite3.Connection | None = None
        self._series_ids: dict[tuple[str, str, str, str, str], int] = {}

    def describe(self) -> dict[str, Any]:
        return {"kind": "sqlite", "path": str(self.path)}

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a 200 from ingest lets the edge delete its copy, so the commit must survive a
        # power cut too, not only a crash (NORMAL in WAL mode only survives crashes).
        db.execute("PRAGMA synchronous=FULL")
        return db

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def init() -> sqlite3.Connection:
            db = self._connect()
            db.executescript(_SCHEMA)
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            for sid, *key in db.execute(
                "SELECT id, tenant, plant, line, machine, metric FROM series"
            ):
                self._series_ids[(key[0], key[1], key[2], key[3], key[4])] = sid
            return db

        self._wdb = await self._run(self._writer, init)
        self._rdb = await self._run(self._reader, self._connect)

    async def close(self) -> None:
        for pool, db in ((self._writer, self._wdb), (self._reader, self._rdb)):
            if db is not None:
                await self._run(pool, db.close)
            pool.shutdown(wait=True)
        self._wdb = self._rdb = None

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(f"SQLite store: {exc}") from exc

    # -- writes --
    async def ingest(self, points: Sequence[Point], *, historical: bool) -> IngestResult:
        if not points:
            return IngestResult(0, 0)
        return await self._run(self._writer, lambda: self._ingest(points, historical))

    def _ingest(self, points: Sequence[Point], historical: bool) -> IngestResult:
        db = self._wdb
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = []
            newest: dict[int, tuple[int, float]] = {}
            for p in points:
                sid = self._series_id(db, p)
                ts = p.ts_ms
                rows.append((p.id.bytes, sid, ts, p.value, p.q, int(historical)))
                if sid not in newest or newest[sid][0] < ts:
                    newest[sid] = (ts, p.value)
            new_ids: set[bytes] = set()
            for i in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[i : i + _ROWS_PER_INSERT]
                # RETURNING names only the rows really inserted: the live stream gets those
                cur = db.execute(_insert_sql(len(chunk)), [v for row in chunk for v in row])
                new_ids.update(r[0] for r in cur.fetchall())
            accepted = len(new_ids)
            db.executemany(
                "UPDATE series SET last_ts_ms = ?, last_value = ? "
                "WHERE id = ? AND (last_ts_ms IS NULL OR last_ts_ms < ?)",
                [(ts, value, sid, ts) for sid, (ts, value) in newest.items()],
            )
            duplicate = len(rows) - accepted
            db.executemany(
                "UPDATE counters SET value = value + ? WHERE name = ?",
                [
                    (accepted, "stored"),
                    (duplicate, "duplicates"),
                    (accepted if historical else 0, "historical"),
                ],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        fresh = None if accepted == len(points) else frozenset(uuid.UUID(bytes=b) for b in new_ids)
        return IngestResult(accepted, duplicate, fresh)

    def _series_id(self, db: sqlite3.Connection, p: Point) -> int:
        key = p.series_key
        sid = self._series_ids.get(key)
        if sid is None:
            db.execute(
                "INSERT OR IGNORE INTO series (tenant, plant, line, machine, metric, unit) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (*key, p.unit),
            )
            sid = db.execute(
                "SELECT id FROM series WHERE tenant=? AND plant=? AND line=? AND machine=? AND metric=?",
                key,
            ).fetchone()[0]
            self._series_ids[key] = sid
        return sid

    async def add_counter(self, name: str, delta: int) -> None:
        def add() -> None:
            assert self._wdb is not None
            self._wdb.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (name, delta),
            )

        await self._run(self._writer, add)

    # -- reads --
    async def _read(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        def query() -> list[tuple[Any, ...]]:
            assert self._rdb is not None
            return self._rdb.execute(sql, args).fetchall()

        return await self._run(self._reader, query)

    async def series(
        self, key: SeriesKey, start_ms: int, end_ms: int, bucket_s: int
    ) -> list[Bucket]:
        b = bucket_s * 1000
        rows = await self._read(
            "SELECT (r.ts_ms / ?) * ? AS bucket, avg(r.value), min(r.value), max(r.value), count(*) "
            "FROM readings r JOIN series s ON s.id = r.series_id "
            "WHERE s.tenant=? AND s.plant=? AND s.line=? AND s.machine=? AND s.metric=? "
            "AND r.ts_ms >= ? AND r.ts_ms < ? GROUP BY bucket ORDER BY bucket",
            (b, b, key.tenant, key.plant, key.line, key.machine, key.metric, start_ms, end_ms),
        )
        return [Bucket(int(r[0]), _f(r[1]), _f(r[2]), _f(r[3]), int(r[4])) for r in rows]

    async def unit_of(self, key: SeriesKey) -> str | None:
        rows = await self._read(
            "SELECT unit FROM series WHERE tenant=? AND plant=? AND line=? AND machine=? AND metric=?",
            (key.tenant, key.plant, key.line, key.machine, key.metric),
        )
        return str(rows[0][0]) if rows else None

    async def aggregates(self, tenant: str, plant: str, start_ms: int) -> list[MetricAggregate]:
        rows = await self._read(self._aggregates_sql, (*self._fault_args, tenant, plant, start_ms))
        return [
            MetricAggregate(r[0], r[1], r[2], _f(r[3]), _f(r[4]), int(r[5]), int(r[6]))
            for r in rows
        ]

    async def latest(self, tenant: str, plant: str | None = None) -> list[tuple[str, LatestValue]]:
        sql = (
            "SELECT plant, line, machine, metric, unit, last_ts_ms, last_value FROM series "
            "WHERE tenant = ? AND last_ts_ms IS NOT NULL"
        )
        args: list[Any] = [tenant]
        if plant is not None:
            sql += " AND plant = ?"
            args.append(plant)
        rows = await self._read(sql + " ORDER BY plant, line, machine, metric", args)
        return [(r[0], LatestValue(r[1], r[2], r[3], r[4], int(r[5]), float(r[6]))) for r in rows]

    async def counters(self) -> dict[str, int]:
        rows = await self._read("SELECT name, value FROM counters", ())
        return {str(n): int(v) for n, v in rows}


def _f(x: Any) -> float:
    # SQLite's avg() answers NULL where a sum overflowed (values stored before the ingest refused
    # magnitudes above 1e150): infinity, which the services turn into null, never a 500.
    return math.inf if x is None else float(x)


_ROWS_PER_INSERT = 1000  # 6000 parameters per statement: well under SQLite's limit of 32766


@functools.lru_cache(maxsize=64)
def _insert_sql(n: int) -> str:
    rows = ", ".join(["(?, ?, ?, ?, ?, ?)"] * n)  # placeholders only
    return f"INSERT OR IGNORE INTO readings (id, series_id, ts_ms, value, q, historical) VALUES {rows} RETURNING id"  # noqa: S608


def _fault_expression(rules: FaultRules) -> tuple[str, list[Any]]:
    """The SQL that counts a group's faults by ``rules``, and its parameters."""
    if not rules:
        return "0", []
    terms, args = [], []
    for metric, codes in sorted(rules.items()):
        marks = ", ".join("?" * len(codes))
        terms.append(f"(s.metric = ? AND r.value IN ({marks}))")
        args += [metric, *sorted(codes)]
    return f"sum(CASE WHEN {' OR '.join(terms)} THEN 1 ELSE 0 END)", args
