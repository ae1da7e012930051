"""Read queries of the PostgreSQL store, built from the segments :mod:`rollups` plans.

Each segment becomes one ``SELECT`` over ``readings`` or a rollup table, producing partial sums
(sum, count, min, max, faults); a ``UNION ALL`` of them is folded into the answer. Raw segments
are bounded by ``ts`` so partition pruning and the ``(series_id, ts)`` index apply; rollup
segments read their primary key ``(series_id, bucket)``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg import sql

from edgetwin.cloud.store.base import FaultRules
from edgetwin.cloud.store.rollups import Segment
from edgetwin.core.point import ms_to_datetime

_TABLE = {"1m": sql.Identifier("rollup_1m"), "1h": sql.Identifier("rollup_1h")}

_SERIES_RAW = sql.SQL(
    "SELECT date_bin(%s, ts, 'epoch') AS b, sum(value) AS t, count(*) AS n, "
    "min(value) AS lo, max(value) AS hi FROM readings WHERE series_id = %s AND {} GROUP BY 1"
)
_SERIES_ROLLUP = sql.SQL(
    "SELECT date_bin(%s, bucket, 'epoch') AS b, sum(total) AS t, sum(n) AS n, "
    "min(lo) AS lo, max(hi) AS hi FROM {} WHERE series_id = %s AND {} GROUP BY 1"
)
_SERIES_FOLD = sql.SQL(
    "SELECT b, sum(t), sum(n), min(lo), max(hi) FROM ({}) x GROUP BY b ORDER BY b"
)
_AGG_RAW = sql.SQL(
    "SELECT r.series_id, sum(r.value) AS t, count(*) AS n, "
    "count(*) FILTER (WHERE (s.metric, r.value) IN (SELECT * FROM fault)) AS f "
    "FROM readings r JOIN series s ON s.id = r.series_id "
    "WHERE s.tenant = %s AND s.plant = %s AND {} GROUP BY 1"
)
_AGG_ROLLUP = sql.SQL(
    "SELECT r.series_id, sum(r.total) AS t, sum(r.n) AS n, sum(r.faults) AS f "
    "FROM {} r JOIN series s ON s.id = r.series_id "
    "WHERE s.tenant = %s AND s.plant = %s AND {} GROUP BY 1"
)
_AGG_FOLD = sql.SQL(
    "WITH fault AS (SELECT * FROM unnest(%s::text[], %s::float8[]) AS f(metric, code)) "
    "SELECT s.line, s.machine, s.metric, sum(x.t), sum(x.n), sum(x.f) "
    "FROM ({}) x JOIN series s ON s.id = x.series_id "
    "GROUP BY s.id, s.line, s.machine, s.metric ORDER BY 1, 2, 3"
)


def _bounds(column: str, seg: Segment, args: list[Any]) -> sql.Composable:
    col = sql.SQL(column)
    args.append(ms_to_datetime(seg.start_ms))
    if seg.end_ms is None:
        return sql.SQL("{} >= %s").format(col)
    args.append(ms_to_datetime(seg.end_ms))
    return sql.SQL("{} >= %s AND {} < %s").format(col, col)


def _union(parts: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" UNION ALL ").join([sql.SQL("({})").format(p) for p in parts])


def series_query(
    series_id: int, bucket_s: int, segments: list[Segment]
) -> tuple[sql.Composed, list[Any]]:
    """Buckets of one series: rows (bucket, sum, count, min, max), ordered by bucket."""
    stride = timedelta(seconds=bucket_s)
    parts: list[sql.Composable] = []
    args: list[Any] = []
    for seg in segments:
        args += [stride, series_id]
        if seg.source == "raw":
            parts.append(_SERIES_RAW.format(_bounds("ts", seg, args)))
        else:
            parts.append(_SERIES_ROLLUP.format(_TABLE[seg.source], _bounds("bucket", seg, args)))
    if len(parts) == 1:
        return sql.SQL("{} ORDER BY 1").format(parts[0]), args
    return _SERIES_FOLD.format(_union(parts)), args


def aggregates_query(
    tenant: str, plant: str, segments: list[Segment], fault_rules: FaultRules
) -> tuple[sql.Composed, list[Any]]:
    """Per series of a plant: rows (line, machine, metric, sum, count, faults).

    Raw readings are counted as faults by ``fault_rules``; rollups hold their counts already
    (made by the same rules, :mod:`pg_faults`).
    """
    rules = sorted((m, float(c)) for m, codes in fault_rules.items() for c in codes)
    parts: list[sql.Composable] = []
    args: list[Any] = [[m for m, _ in rules], [c for _, c in rules]]
    for seg in segments:
        args += [tenant, plant]
        if seg.source == "raw":
            parts.append(_AGG_RAW.format(_bounds("r.ts", seg, args)))
        else:
            parts.append(_AGG_ROLLUP.format(_TABLE[seg.source], _bounds("r.bucket", seg, args)))
    return _AGG_FOLD.format(_union(parts)), args


LATEST_SQL = sql.SQL(
    "SELECT s.plant, s.line, s.machine, s.metric, s.unit, l.last_ts, l.last_value "
    "FROM series s CROSS JOIN LATERAL ("
    "  SELECT last_ts, last_value FROM rollup_1m r WHERE r.series_id = s.id "
    "  ORDER BY r.bucket DESC LIMIT 1) l "
    "WHERE s.tenant = %s {} ORDER BY 1, 2, 3, 4"
)
