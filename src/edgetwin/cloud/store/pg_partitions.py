"""Daily partitions of ``readings``: created ahead of time, adopted from the default partition,
dropped by retention. Run by :func:`maintain` at start and periodically by one worker at a time.

Why this shape:
- Ingest never runs DDL. Days around today exist ahead of time; a reading for any other day
  (a backfill of an old day, a device whose clock is far off) lands in ``readings_default``, so
  ingest never fails for want of a partition. The next maintenance run moves such rows into a
  partition of their own ("adopts" the day) in one transaction.
- New partitions are created standalone and then ATTACHed: ATTACH takes a SHARE UPDATE
  EXCLUSIVE lock on ``readings``, which blocks neither ingest nor queries (CREATE TABLE ...
  PARTITION OF would take ACCESS EXCLUSIVE), and ACCESS EXCLUSIVE only on the default partition.
  A CHECK constraint matching the bounds spares the validation scan of the new table. Each
  partition is vacuumed after 5 % new rows (not the default 20 %), so its visibility map keeps
  up and series reads stay index-only scans.
- Every DDL step runs with a short ``lock_timeout``: if a long query holds a table, maintenance
  gives up and tries again next time instead of queueing ingest behind its lock request. That
  matters for DROP, which does take ACCESS EXCLUSIVE on ``readings`` (for milliseconds).
- Retention drops whole partitions (no DELETE, no vacuum debt) and deletes expired rows of the
  default partition and expired rollup buckets.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

from edgetwin.cloud.store.pg_schema import LOCK_CLASS, LOCK_MAINTAIN

log = logging.getLogger("edgetwin.cloud.store.postgres")

_PARTITION = re.compile(r"^readings_p(\d{8})$")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Retention:
    """How long data is kept; 0 means forever."""

    readings_days: int = 30
    rollup_days: int = 400
    ahead_days: int = 3
    behind_days: int = 2  # days before today created up front, for a short outage's backfill


@dataclass
class MaintenanceReport:
    skipped: bool = False  # another worker holds the maintenance lock
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    adopted_rows: int = 0
    deleted_rows: int = 0


def partition_name(day: date) -> str:
    return f"readings_p{day:%Y%m%d}"


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def partition_days(conn: AsyncConnection[TupleRow]) -> set[date]:
    """Days that have a partition of their own."""
    cur = await conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'readings'::regclass"
    )
    days = set()
    for (name,) in await cur.fetchall():
        match = _PARTITION.match(str(name))
        if match:
            days.add(datetime.strptime(match[1], "%Y%m%d").replace(tzinfo=UTC).date())
    return days


async def create_partition(conn: AsyncConnection[TupleRow], day: date) -> int:
    """Create the partition of ``day``, moving its rows out of the default partition first.

    Must run inside a transaction. Returns how many rows were moved.
    """
    name = sql.Identifier(partition_name(day))
    lo, hi = day_start(day), day_start(day + DAY)
    await conn.execute(
        sql.SQL(
            "CREATE TABLE {} (LIKE readings INCLUDING DEFAULTS, CHECK (ts >= {} AND ts < {})) "
            "WITH (autovacuum_vacuum_insert_scale_factor = 0.05)"
        ).format(name, sql.Literal(lo), sql.Literal(hi))
    )
    cur = await conn.execute(
        sql.SQL(
            "WITH moved AS (DELETE FROM readings_default WHERE ts >= %s AND ts < %s RETURNING *) "
            "INSERT INTO {} SELECT * FROM moved"
        ).format(name),
        (lo, hi),
    )
    moved = cur.rowcount
    await conn.execute(
        sql.SQL("ALTER TABLE readings ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
            name, sql.Literal(lo), sql.Literal(hi)
        )
    )
    return max(moved, 0)


async def _default_days(conn: AsyncConnection[TupleRow], lo: datetime, hi: datetime) -> set[date]:
    cur = await conn.execute(
        "SELECT DISTINCT date_bin('1 day', ts, 'epoch') FROM readings_default "
        "WHERE ts >= %s AND ts < %s",
        (lo, hi),
    )
    return {row[0].astimezone(UTC).date() for row in await cur.fetchall()}


async def maintain(
    conn: AsyncConnection[TupleRow],
    retention: Retention,
    now: datetime | None = None,
    lock_timeout_ms: int = 2000,
) -> MaintenanceReport:
    """Create partitions ahead, adopt days from the default partition, apply retention.

    ``conn`` must be in autocommit mode. Each step is its own short transaction with a short
    lock timeout, so that no step holds a lock on ``readings`` while the next one runs and a
    busy table only postpones that step. A session advisory lock lets one worker at a time in;
    the others skip (the server releases the lock if the connection dies).
    """
    report = MaintenanceReport()
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_MAINTAIN))
    row = await cur.fetchone()
    if not (row and row[0]):
        report.skipped = True
        return report
    try:
        await _maintain(conn, retention, now, lock_timeout_ms, report)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, LOCK_MAINTAIN))
    return report


async def _maintain(
    conn: AsyncConnection[TupleRow],
    retention: Retention,
    now: datetime | None,
    lock_timeout_ms: int,
    report: MaintenanceReport,
) -> None:
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    keep = retention.readings_days
    horizon = today - timedelta(days=keep) if keep else None
    last = today + timedelta(days=retention.ahead_days)
    existing = await partition_days(conn)
    wanted = {
        today + timedelta(days=d) for d in range(-retention.behind_days, retention.ahead_days + 1)
    }
    lo = day_start(horizon) if horizon else datetime(2000, 1, 1, tzinfo=UTC)
    wanted |= await _default_days(conn, lo, day_start(last + DAY))
    if horizon:
        wanted = {d for d in wanted if d >= horizon}
    timeout = sql.SQL("SET LOCAL lock_timeout = {}").format(lock_timeout_ms)
    for day in sorted(wanted - existing):
        try:
            async with conn.transaction():
                await conn.execute(timeout)
                report.adopted_rows += await create_partition(conn, day)
            report.created.append(partition_name(day))
        except psycopg.errors.LockNotAvailable:
            log.warning("partition %s: table busy, creating it later", partition_name(day))
    if horizon:
        for day in sorted(d for d in existing if d + DAY <= horizon):
            try:
                async with conn.transaction():
                    await conn.execute(timeout)
                    drop = sql.SQL("DROP TABLE {}").format(sql.Identifier(partition_name(day)))
                    await conn.execute(drop)
                report.dropped.append(partition_name(day))
            except psycopg.errors.LockNotAvailable:
                log.warning("partition %s: table busy, dropping it later", partition_name(day))
        cur = await conn.execute(
            "DELETE FROM readings_default WHERE ts < %s", (day_start(horizon),)
        )
        report.deleted_rows += max(cur.rowcount, 0)
    if retention.rollup_days:
        cutoff = day_start(today - timedelta(days=retention.rollup_days))
        for table in ("rollup_1m", "rollup_1h"):
            delete = sql.SQL("DELETE FROM {} WHERE bucket < %s").format(sql.Identifier(table))
            cur = await conn.execute(delete, (cutoff,))
            report.deleted_rows += max(cur.rowcount, 0)
