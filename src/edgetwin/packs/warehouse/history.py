"""A plausible history written straight into the warehouse's tables, to measure the analytics.

:func:`write_history` fills ``days`` of the energy log (one row per device and minute), the
orders and the alerts of a warehouse that works two shifts (06:00-22:00 UTC): per hour about 20
orders (store, process and ship), each drawing the energy and running time its motion takes at
the reference's currents; a worn motor's spikes and micro-stoppages on the last days. A fixed
seed gives the same history every time.

``python -m edgetwin.packs.warehouse.history [--days 30] [--url URL]`` writes it into a fresh
SQLite file (or ``URL``) and prints how long the analytics take for 24 h, 7 d and 30 d.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import insert

from edgetwin.packs.warehouse import tables as t
from edgetwin.packs.warehouse.analytics import analytics, export_rows, window
from edgetwin.packs.warehouse.store import MINUTE_MS, WarehouseStore

ORDERS_PER_HOUR: Final = 20
# Energy (Wh) and motor running time (s) one order takes per device, from simulated orders:
# ~70 s of motion at 1.0-2.5 A on 24 V.
PER_ORDER: Final = {"hbw": (0.9, 110.0), "conveyor": (0.25, 30.0), "vgr": (0.8, 95.0)}
IDLE_W: Final = {"hbw": 4 * 0.05 * 24, "conveyor": 0.05 * 24, "vgr": (4 * 0.05 + 0.1) * 24}
BATCH: Final = 5000


def _busy(ts: datetime) -> bool:
    return 6 <= ts.hour < 22


def _rows(
    tenant: str, plant: str, start_ms: int, days: int, rng: random.Random
) -> Iterator[tuple[str, dict[str, Any]]]:
    minutes = days * 1440
    seq = 0
    for i in range(minutes):
        minute = start_ms + i * MINUTE_MS
        ts = datetime.fromtimestamp(minute / 1000, UTC)
        n = 0
        if _busy(ts):
            n = sum(1 for _ in range(3) if rng.random() < ORDERS_PER_HOUR / 180)
        worn = i > minutes - 3 * 1440  # the last three days: a worn HBW X motor
        for device, (wh, run_s) in PER_ORDER.items():
            spikes = sum(
                1 for _ in range(n * 12) if worn and device == "hbw" and rng.random() < 0.05
            )
            stops = 1 if worn and device == "hbw" and n and rng.random() < 0.1 else 0
            yield (
                "energy",
                {
                    "tenant": tenant,
                    "plant": plant,
                    "device": device,
                    "minute_ms": minute,
                    "energy_wh": IDLE_W[device] / 60 + n * wh * rng.uniform(0.9, 1.1),
                    "running_s": min(60.0, n * run_s / 3),
                    "spikes": spikes,
                    "stops": stops,
                    "peak_w": IDLE_W[device] + (60.0 if n else 0.0),
                },
            )
            if stops:
                yield (
                    "alerts",
                    {
                        "tenant": tenant,
                        "plant": plant,
                        "component": "HBW_X_MOTOR",
                        "kind": "micro_stoppage",
                        "severity": "warning",
                        "message": "HBW_X_MOTOR: micro-stoppage",
                        "value": 1.0,
                        "raised_ms": minute,
                        "cleared_ms": minute + MINUTE_MS,
                    },
                )
        for _ in range(n):
            seq += 1
            kind = rng.choice(("store", "process", "ship"))
            ok = rng.random() > 0.02
            yield (
                "orders",
                {
                    "tenant": tenant,
                    "plant": plant,
                    "id": f"hist-{seq:07d}",
                    "kind": kind,
                    "slot": rng.choice("ABC") + rng.choice("123"),
                    "flavor": "CHOCO",
                    "cookie": f"CK-H{seq:07d}",
                    "state": "succeeded" if ok else "failed",
                    "reason": "" if ok else "interlock: the VGR is over the belt",
                    "final_state": {"store": "RAW_DOUGH", "process": "PACKAGED", "ship": "SHIPPED"}[
                        kind
                    ]
                    if ok
                    else None,
                    "requested_by": "history",
                    "created_ms": minute,
                    "ended_ms": minute + rng.randint(40_000, 59_000),
                },
            )


def write_history(
    store: WarehouseStore, tenant: str, plant: str, days: int, end: datetime, seed: int = 7
) -> dict[str, int]:
    """Write ``days`` of history ending at ``end`` (see the module); rows written per table."""
    start_ms = int((end - timedelta(days=days)).timestamp() * 1000)
    start_ms -= start_ms % MINUTE_MS
    tables = {"energy": t.energy, "orders": t.orders, "alerts": t.alerts}
    pending: dict[str, list[dict[str, Any]]] = {k: [] for k in tables}
    written = dict.fromkeys(tables, 0)
    with store.engine.begin() as conn:
        for name, row in _rows(tenant, plant, start_ms, days, random.Random(seed)):
            pending[name].append(row)
            if len(pending[name]) >= BATCH:
                conn.execute(insert(tables[name]), pending[name])
                written[name] += len(pending[name])
                pending[name] = []
        for name, rows in pending.items():
            if rows:
                conn.execute(insert(tables[name]), rows)
                written[name] += len(rows)
    return written


def measure(store: WarehouseStore, tenant: str, plant: str) -> dict[str, float]:
    """Wall time, ms, of the analytics for each named range (and of a 30-day energy export)."""
    out: dict[str, float] = {}
    for name in ("24h", "7d", "30d"):
        start, end, bucket = window(name, None, None)
        began = time.perf_counter()
        analytics(store, tenant, plant, start, end, bucket)
        out[name] = round((time.perf_counter() - began) * 1000, 1)
    start, end, _ = window("30d", None, None)
    began = time.perf_counter()
    size = sum(len(chunk) for chunk in export_rows(store, "energy", tenant, plant, start, end))
    out["export_30d_energy"] = round((time.perf_counter() - began) * 1000, 1)
    out["export_bytes"] = float(size)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--url", default=None, help="SQLAlchemy URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = WarehouseStore(args.url or f"sqlite:///{Path(tmp) / 'warehouse.db'}")
        store.open()
        try:
            began = time.perf_counter()
            written = write_history(store, "acme", "plant-01", args.days, datetime.now(UTC))
            print(f"wrote {written} in {time.perf_counter() - began:.1f} s")
            for _ in range(2):  # the second pass: the database's cache is warm
                print("analytics, ms:", measure(store, "acme", "plant-01"))
        finally:
            store.forget("acme", "plant-01")
            store.close()


if __name__ == "__main__":
    main()
