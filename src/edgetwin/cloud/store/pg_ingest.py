"""The ingest statement of the PostgreSQL store, and its candidate row sources.

One statement does all of an ingest, so it is one round trip and one transaction:

1. ``src``: the batch, from one of three sources (the candidates measured in ``pg_bench``):
   ``unnest`` of five typed arrays, a multi-row ``VALUES`` list, or a temporary staging table
   filled by binary ``COPY`` just before.
2. ``ins``: ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` into ``readings``. Only the rows
   really inserted come back, so what follows never counts a duplicate, whether it repeats an
   earlier batch, a row of the same batch, or a row a concurrent worker is inserting right now
   (the unique index makes the second inserter wait for the first to commit or abort).
3. ``m``, ``h``: upserts of the 1-minute and 1-hour rollups from ``ins``, counting as faults the
   readings whose (series, value) is in ``f`` (the store's fault rules, :mod:`pg_faults`).
4. ``c``: the counters, into this connection's shard.

Rows are inserted in (ts, id) order and rollup rows upserted in (series, bucket) order, so two
concurrent transactions take their row locks in the same order and cannot deadlock each other.
The contended rows (rollups of the current minute, counters) are touched last, just before the
commit, to keep the time they are held short.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

Strategy = Literal["unnest", "values", "copy"]
STRATEGIES: tuple[Strategy, ...] = ("unnest", "values", "copy")
CHOSEN: Strategy = "unnest"  # see docs/storage.md for the measurements behind the choice

# (ts, id, value, series_id, q): the columns a batch brings.
Row = tuple[datetime, uuid.UUID, float, int, int]
COPY_TYPES = ["timestamptz", "uuid", "float8", "int4", "int2"]
COUNTER_SHARDS = 16  # counters rows per name; the statements use pg_backend_pid() % 16

STAGING_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_staging "
    "(ts timestamptz, id uuid, value float8, series_id int4, q int2) ON COMMIT DELETE ROWS"
)

_TAIL = """
, ins AS (
    INSERT INTO readings (ts, id, value, series_id, q, historical)
    SELECT ts, id, value, series_id, q, (SELECT historical FROM p) FROM src ORDER BY ts, id
    ON CONFLICT DO NOTHING
    RETURNING ts, id, value, series_id
), m AS (
    INSERT INTO rollup_1m AS r (series_id, bucket, n, total, lo, hi, faults, last_ts, last_value)
    SELECT series_id, date_bin('1 minute', ts, 'epoch'), count(*), sum(value), min(value),
           max(value), count(*) FILTER (WHERE (series_id, value) IN (SELECT * FROM f)),
           max(ts), (array_agg(value ORDER BY ts DESC))[1]
    FROM ins GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (series_id, bucket) DO UPDATE SET
        n = r.n + excluded.n, total = r.total + excluded.total,
        lo = least(r.lo, excluded.lo), hi = greatest(r.hi, excluded.hi),
        faults = r.faults + excluded.faults,
        last_ts = greatest(r.last_ts, excluded.last_ts),
        last_value = CASE WHEN excluded.last_ts > r.last_ts
                          THEN excluded.last_value ELSE r.last_value END
), h AS (
    INSERT INTO rollup_1h AS r (series_id, bucket, n, total, lo, hi, faults)
    SELECT series_id, date_bin('1 hour', ts, 'epoch'), count(*), sum(value), min(value),
           max(value), count(*) FILTER (WHERE (series_id, value) IN (SELECT * FROM f))
    FROM ins GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (series_id, bucket) DO UPDATE SET
        n = r.n + excluded.n, total = r.total + excluded.total,
        lo = least(r.lo, excluded.lo), hi = greatest(r.hi, excluded.hi),
        faults = r.faults + excluded.faults
), k AS (
    SELECT (SELECT count(*) FROM ins) AS stored, (SELECT count(*) FROM src) AS total
), c AS (
    INSERT INTO counters AS c (name, shard, value)
    SELECT name, (pg_backend_pid() %% 16)::smallint, v FROM (
        SELECT 'duplicates', total - stored FROM k
        UNION ALL SELECT 'historical', CASE WHEN (SELECT historical FROM p) THEN stored END FROM k
        UNION ALL SELECT 'stored', stored FROM k
    ) AS t(name, v)
    WHERE v > 0
    ORDER BY name
    ON CONFLICT (name, shard) DO UPDATE SET value = c.value + excluded.value
)
SELECT stored, CASE WHEN stored < total THEN (SELECT array_agg(id) FROM ins) END FROM k
"""

# %b: parameters travel in binary; for arrays of timestamps and UUIDs that alone makes unnest
# about 1.7 times faster than text (measured, see docs/storage.md).
_HEAD = (
    "WITH p AS (SELECT %b::boolean AS historical), "
    "f AS (SELECT * FROM unnest(%b::int4[], %b::float8[]) AS f(series_id, code)), "
    "src AS ({})"
)
_UNNEST = (
    "SELECT * FROM unnest(%b::timestamptz[], %b::uuid[], %b::float8[], %b::int4[], %b::int2[]) "
    "AS s(ts, id, value, series_id, q)"
)
_VALUES = "SELECT * FROM (VALUES {}) AS s(ts, id, value, series_id, q)"
_VALUE_ROW = "(%b::timestamptz, %b::uuid, %b::float8, %b::int4, %b::int2)"
_STAGED = "SELECT ts, id, value, series_id, q FROM ingest_staging"
_COPY = "COPY ingest_staging (ts, id, value, series_id, q) FROM STDIN (FORMAT BINARY)"


def _statement(source: sql.Composable) -> bytes:
    """The whole statement as bytes, built once: psycopg then prepares it server-side."""
    return sql.Composed([sql.SQL(_HEAD).format(source), sql.SQL(_TAIL)]).as_bytes()


UNNEST_SQL = _statement(sql.SQL(_UNNEST))
STAGED_SQL = _statement(sql.SQL(_STAGED))


def values_sql(n: int) -> bytes:
    rows = sql.SQL(", ").join([sql.SQL(_VALUE_ROW)] * n)
    return _statement(sql.SQL(_VALUES).format(rows))


async def ingest_rows(
    conn: AsyncConnection[TupleRow],
    rows: Sequence[Row],
    *,
    historical: bool,
    faults: Sequence[tuple[int, float]],
    strategy: Strategy = CHOSEN,
) -> tuple[int, list[uuid.UUID] | None]:
    """Store ``rows`` exactly once in one transaction; returns how many were new, and which
    (their ids) when some were not (None: every row was new, the common case costs nothing).

    ``faults``: the (series id, code) pairs that count as a fault in the rollups, at least those
    of the series in ``rows`` (an uncorrelated list: PostgreSQL hashes it once per statement).
    ``conn`` must be in autocommit mode (the statement is its own transaction, except for the
    ``copy`` strategy, which needs two statements in one).
    """
    head: list[Any] = [historical, [sid for sid, _ in faults], [code for _, code in faults]]
    if strategy == "unnest":
        columns = [list(col) for col in zip(*rows, strict=True)]
        cur = await conn.execute(UNNEST_SQL, [*head, *columns])
    elif strategy == "values":
        flat = [v for row in rows for v in row]
        cur = await conn.execute(values_sql(len(rows)), [*head, *flat], prepare=False)
    else:
        async with conn.transaction():
            async with conn.cursor().copy(_COPY.encode()) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    await copy.write_row(row)
            cur = await conn.execute(STAGED_SQL, head)
    stored = await cur.fetchone()
    if stored is None:
        return 0, None
    return int(stored[0]), (None if stored[1] is None else list(stored[1]))
