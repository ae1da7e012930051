"""Fault rules in the PostgreSQL store: which readings count as faults, recorded and applied.

The rules (metric -> fault codes, see :data:`edgetwin.cloud.store.base.FaultRules`) come from the
enabled packs' device types. Rollups count faults at ingest, so their counts depend on the rules
of the moment: the table ``fault_rules`` (migration 0004) records the rules the counts were made
with, and :func:`apply_rules`, called when the store opens, recounts the faults of the buckets
whose readings are still kept when the rules changed. Buckets past the readings' retention keep
the counts they were made with (there is nothing left to recount them from).

Every worker of a deployment must be started with the same packs: a worker with other rules
counts the readings it ingests by its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from edgetwin.cloud.store.pg_schema import LOCK_CLASS, LOCK_MIGRATE

log = logging.getLogger("edgetwin.cloud.store.postgres")

Conn = AsyncConnection[TupleRow]

# Readings of the given series, recounted per 1-minute bucket by the recorded rules; then the
# 1-hour buckets from the 1-minute ones. Only rows whose count changes are written.
_RECOUNT_1M = """
UPDATE rollup_1m r SET faults = c.f
FROM (
    SELECT x.series_id, date_bin('1 minute', x.ts, 'epoch') AS b,
           count(*) FILTER (WHERE (s.metric, x.value) IN (SELECT metric, code FROM fault_rules)) AS f
    FROM readings x JOIN series s ON s.id = x.series_id
    WHERE x.series_id = ANY(%s::int4[])
    GROUP BY 1, 2
) c
WHERE r.series_id = c.series_id AND r.bucket = c.b AND r.faults <> c.f
"""
_RECOUNT_1H = """
UPDATE rollup_1h r SET faults = c.f
FROM (
    SELECT series_id, date_bin('1 hour', bucket, 'epoch') AS b, sum(faults) AS f
    FROM rollup_1m WHERE series_id = ANY(%s::int4[]) GROUP BY 1, 2
) c
WHERE r.series_id = c.series_id AND r.bucket = c.b AND r.faults <> c.f
"""


def pairs(rules: Mapping[str, frozenset[int]]) -> set[tuple[str, float]]:
    """The rules as (metric, code) pairs, as the table ``fault_rules`` holds them."""
    return {(metric, float(code)) for metric, codes in rules.items() for code in codes}


async def apply_rules(conn: Conn, rules: Mapping[str, frozenset[int]]) -> bool:
    """Record ``rules`` as the store's fault rules, recounting the rollups if they changed.

    Runs in one transaction under the migration lock, so workers starting together recount
    once. Returns True if the rules changed (and the rollups were recounted).
    """
    wanted = pairs(rules)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, LOCK_MIGRATE))
        cur = await conn.execute("SELECT metric, code FROM fault_rules")
        recorded = {(str(m), float(c)) for m, c in await cur.fetchall()}
        if recorded == wanted:
            return False
        await conn.execute("DELETE FROM fault_rules")
        if wanted:
            metrics, codes = zip(*sorted(wanted), strict=True)
            await conn.execute(
                "INSERT INTO fault_rules (metric, code) "
                "SELECT * FROM unnest(%s::text[], %s::float8[])",
                (list(metrics), list(codes)),
            )
        # The series whose counts may change: those the old or the new rules name, and any
        # with a fault counted (a database upgraded from before the rules were recorded).
        touched = sorted({m for m, _ in recorded | wanted})
        cur = await conn.execute(
            "SELECT id FROM series WHERE metric = ANY(%s::text[]) "
            "UNION SELECT DISTINCT series_id FROM rollup_1h WHERE faults > 0",
            (touched,),
        )
        series = [int(r[0]) for r in await cur.fetchall()]
        if series:
            await conn.execute(_RECOUNT_1M, (series,))
            await conn.execute(_RECOUNT_1H, (series,))
        log.info("fault rules changed to %s; %d series recounted", sorted(wanted), len(series))
    return True
