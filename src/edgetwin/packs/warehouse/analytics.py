"""The warehouse's analytics over a time range, and its CSV export, from the relational state.

:func:`analytics` answers energy per device, throughput (orders done) per kind, utilisation
per device (share of the bucket its motors ran), wear spikes and micro-stoppages per bucket and
the alerts raised, for the last 24 h, 7 d, 30 d or a custom range, in at most
:data:`MAX_BUCKETS` buckets. Everything is summed in the database (GROUP BY over the energy log's
minute rows: 30 days are ~130,000 rows), never in Python.

:func:`export_rows` streams a table's rows in a range as CSV lines, read through a server-side
cursor (``yield_per``): the whole table is never in memory.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from sqlalchemy import func, select

from edgetwin.packs.warehouse import tables as t
from edgetwin.packs.warehouse.components import COMPONENTS, DEVICE_OF
from edgetwin.packs.warehouse.reads import iso
from edgetwin.packs.warehouse.schemas import Analytics, Anomaly, SeriesOut
from edgetwin.packs.warehouse.store import WarehouseStore

RangeName = Literal["24h", "7d", "30d", "custom"]
ExportTable = Literal["energy", "orders", "alerts"]
RANGES: Final[dict[str, tuple[timedelta, int]]] = {
    "24h": (timedelta(hours=24), 3600),
    "7d": (timedelta(days=7), 6 * 3600),
    "30d": (timedelta(days=30), 86400),
}
"""Range -> (its length, its bucket in s): 24 hourly, 28 six-hourly, 30 daily buckets."""
BUCKETS_S: Final = (60, 300, 900, 3600, 6 * 3600, 86400)
MAX_BUCKETS: Final = 60
DEVICES: Final = tuple(DEVICE_OF.values())
KINDS: Final = ("store", "process", "ship")
MOTORS_OF: Final = {
    d: sum(1 for c in COMPONENTS if c.draws_current and DEVICE_OF[c.subsystem] == d)
    for d in DEVICES
}
MAX_ANOMALIES: Final = 200
EXPORT_BATCH: Final = 1000


def window(
    name: RangeName, start: datetime | None, end: datetime | None, now: datetime | None = None
) -> tuple[datetime, datetime, int]:
    """(start, end, bucket s) of a named range ending now, or of ``start``..``end`` (custom:
    the smallest bucket of :data:`BUCKETS_S` that gives at most :data:`MAX_BUCKETS`).

    Raises:
        ValueError: a custom range without both ends, or with its end not after its start.
    """
    now = now or datetime.now(UTC)
    if name != "custom":
        length, bucket = RANGES[name]
        end_ = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if bucket == 86400:
            end_ = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return end_ - length, end_, bucket
    if start is None or end is None:
        raise ValueError("a custom range needs start and end")
    if end <= start:
        raise ValueError("end must be after start")
    span = (end - start).total_seconds()
    bucket = next((b for b in BUCKETS_S if span / b <= MAX_BUCKETS), BUCKETS_S[-1])
    return start, end, bucket


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def analytics(
    store: WarehouseStore, tenant: str, plant: str, start: datetime, end: datetime, bucket_s: int
) -> Analytics:
    """The warehouse from ``start`` to ``end`` in buckets of ``bucket_s`` (see the module)."""
    began = time.perf_counter()
    s_ms, e_ms, b_ms = _ms(start), _ms(end), bucket_s * 1000
    n = max(1, -(-(e_ms - s_ms) // b_ms))
    e = t.energy.c
    eb = ((e.minute_ms - s_ms) // b_ms).label("b")
    energy_q = (
        select(
            e.device,
            eb,
            func.sum(e.energy_wh),
            func.sum(e.running_s),
            func.sum(e.spikes),
            func.sum(e.stops),
        )
        .where(e.tenant == tenant, e.plant == plant, e.minute_ms >= s_ms, e.minute_ms < e_ms)
        .group_by(e.device, eb)
    )
    o = t.orders.c
    ob = ((o.ended_ms - s_ms) // b_ms).label("b")
    orders_q = (
        select(o.kind, o.state, ob, func.count())
        .where(o.tenant == tenant, o.plant == plant, o.ended_ms >= s_ms, o.ended_ms < e_ms)
        .group_by(o.kind, o.state, ob)
    )
    a = t.alerts.c
    alerts_q = (
        select(a.raised_ms, a.kind, a.component, a.message)
        .where(a.tenant == tenant, a.plant == plant, a.raised_ms >= s_ms, a.raised_ms < e_ms)
        .order_by(a.raised_ms.desc())
        .limit(MAX_ANOMALIES)
    )
    energy = {d: [None] * n for d in DEVICES}  # type: dict[str, list[float | None]]
    running = {d: [None] * n for d in DEVICES}  # type: dict[str, list[float | None]]
    spikes, stops = [0] * n, [0] * n
    done = {k: [0.0] * n for k in KINDS}  # type: dict[str, list[float | None]]
    failed = 0
    with store.engine.connect() as conn:
        for device, b, wh, run_s, sp, st in conn.execute(energy_q):
            if device in energy and 0 <= b < n:
                energy[device][int(b)] = round(float(wh), 4)
                pct = 100 * float(run_s) / (bucket_s * MOTORS_OF[device])
                running[device][int(b)] = round(pct, 2)
                spikes[int(b)] += int(sp)
                stops[int(b)] += int(st)
        for kind, state, b, count in conn.execute(orders_q):
            if state == "failed":
                failed += int(count)
            elif kind in done and 0 <= b < n:
                done[kind][int(b)] = float((done[kind][int(b)] or 0) + count)
        anomalies = [
            Anomaly(
                at=iso(r.raised_ms) or "", kind=r.kind, component=r.component, message=r.message
            )
            for r in conn.execute(alerts_q)
        ]
    return Analytics(
        tenant=tenant,
        plant=plant,
        start=iso(s_ms) or "",
        end=iso(e_ms) or "",
        bucket_s=bucket_s,
        buckets=[iso(s_ms + i * b_ms) or "" for i in range(n)],
        energy_wh=[SeriesOut(name=d, values=v) for d, v in energy.items()],
        energy_total_wh={d: round(sum(x or 0 for x in v), 4) for d, v in energy.items()},
        throughput=[SeriesOut(name=k, values=v) for k, v in done.items()],
        orders_failed=failed,
        utilisation=[SeriesOut(name=d, values=v) for d, v in running.items()],
        spikes=spikes,
        stops=stops,
        anomalies=anomalies,
        took_ms=round((time.perf_counter() - began) * 1000, 2),
    )


_EXPORTS: Final = {
    "energy": (
        t.energy,
        "minute_ms",
        ("device", "minute_ms", "energy_wh", "running_s", "spikes", "stops", "peak_w"),
    ),
    "orders": (
        t.orders,
        "created_ms",
        (
            "id",
            "kind",
            "slot",
            "flavor",
            "cookie",
            "state",
            "reason",
            "final_state",
            "requested_by",
            "created_ms",
            "ended_ms",
        ),
    ),
    "alerts": (
        t.alerts,
        "raised_ms",
        ("id", "component", "kind", "severity", "message", "value", "raised_ms", "cleared_ms"),
    ),
}


def export_rows(
    store: WarehouseStore,
    table: ExportTable,
    tenant: str,
    plant: str,
    start: datetime,
    end: datetime,
) -> Iterator[str]:
    """CSV of ``table``'s rows from ``start`` to ``end``, oldest first: a header line, then
    chunks of up to :data:`EXPORT_BATCH` rows, read as they are sent (``*_ms`` columns also
    as ISO 8601 UTC ``*_at``)."""
    tab, when, cols = _EXPORTS[table]
    times = [c for c in cols if c.endswith("_ms")]
    header = [*cols, *(c.removesuffix("_ms") + "_at" for c in times)]
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(header)
    yield buf.getvalue()
    c = tab.c
    sel = (
        select(*(c[x] for x in cols))
        .where(c.tenant == tenant, c.plant == plant, c[when] >= _ms(start), c[when] < _ms(end))
        .order_by(c[when])
    )
    with store.engine.connect() as conn:
        result = conn.execution_options(yield_per=EXPORT_BATCH).execute(sel)
        for part in result.partitions():
            buf.seek(0)
            buf.truncate()
            for row in part:
                values = list(row)
                out.writerow(values + [iso(row._mapping[x]) for x in times])
            yield buf.getvalue()
