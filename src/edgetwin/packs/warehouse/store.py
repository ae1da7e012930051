"""The warehouse's relational state in the cloud, through SQLAlchemy (:mod:`.tables`).

SQLite by default (``<data-dir>/warehouse.db``); when the cloud's store is PostgreSQL
(``settings.store_url``), the same database, in tables named ``warehouse_*``. Every method is
blocking (one short transaction); the cloud calls them from a worker thread.

:meth:`WarehouseStore.apply` takes one snapshot of the device (:mod:`.sync`) and writes only
what changed since the last one: slots, carriers, cookies (a cookie that left the machine is
SHIPPED when a ship order names it or the shipped count rose, else GONE), the components'
condition, the machine, the orders the snapshot reports, the energy log's minute per device and
the alerts (raised when a condition starts, cleared when it ends).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    Engine,
    Table,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from edgetwin.cloud.store import PG_SCHEMES
from edgetwin.core.settings import Settings
from edgetwin.packs.warehouse import tables as t
from edgetwin.packs.warehouse.sync import GONE, Rows, conditions, increments, rows_of

MINUTE_MS: Final = 60_000
BUSY_S: Final = 15.0


def _sqlite_wal(conn: Any, _record: Any) -> None:
    conn.execute("PRAGMA journal_mode=WAL")


def url_for(settings: Settings) -> str:
    """The SQLAlchemy URL of the warehouse's database for these settings."""
    url = settings.store_url
    if url.startswith(PG_SCHEMES):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return f"sqlite:///{Path(settings.data_dir) / 'warehouse.db'}"


def now_ms() -> int:
    return int(time.time() * 1000)


class WarehouseStore:
    """The warehouse's tables in one database. ``open()`` connects and migrates; ``close()``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._last: dict[tuple[str, str], tuple[Rows, dict[str, Any]]] = {}
        self._lock = threading.Lock()  # one apply at a time (the cache of the last snapshot)
        self.applied = 0
        self.migrated: list[int] = []

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the warehouse store is not open")
        return self._engine

    def open(self) -> None:
        """Connect and apply the missing migrations.

        Raises:
            sqlalchemy.exc.OperationalError: the database cannot be reached.
        """
        if self.url.startswith("sqlite"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            # WAL: the pages and the API read while the snapshot is written; a writer waits
            # up to BUSY_S for another (a history import, a second process) instead of failing.
            engine = create_engine(self.url, connect_args={"timeout": BUSY_S})
            event.listen(engine, "connect", _sqlite_wal)
            self._engine = engine
        else:
            self._engine = create_engine(self.url, pool_pre_ping=True)
        with self._engine.begin() as conn:
            self.migrated = t.migrate(conn)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- the device's snapshot in --
    def apply(self, tenant: str, plant: str, snap: Mapping[str, Any], at_ms: int) -> None:
        """Write what ``snap`` (taken at ``at_ms``) changes.

        Raises:
            KeyError, TypeError, ValueError: not a warehouse snapshot (nothing is written).
        """
        rows = rows_of(snap)
        with self._lock, self.engine.begin() as conn:
            key = (tenant, plant)
            before = self._last.get(key)
            if before is None:
                before = (self._load(conn, tenant, plant), {})
            prev_rows, prev_motors = before
            scope = {"tenant": tenant, "plant": plant}
            self._upsert(conn, t.machine, scope, {}, rows.machine | {"updated_ms": at_ms})
            for table, new, old, col in (
                (t.slots, rows.slots, prev_rows.slots, "slot"),
                (t.carriers, rows.carriers, prev_rows.carriers, "id"),
            ):
                for k, row in new.items():
                    if old.get(k) != row:
                        self._upsert(conn, table, scope, {col: k}, row)
            self._cookies(conn, scope, rows, prev_rows, at_ms)
            for m, row in rows.components.items():
                was = prev_rows.components.get(m)
                if was == row:
                    continue
                fitted = was is not None and row["health"] > was["health"]  # a new motor
                extra = {"updated_ms": at_ms} | ({"replaced_ms": at_ms} if fitted else {})
                self._upsert(conn, t.components, scope, {"id": m}, row | extra)
            self._orders(conn, scope, snap, at_ms)
            if prev_motors and snap.get("t", 0) >= prev_motors.get("_t", 0):
                self._energy(conn, scope, increments(prev_motors, snap["motors"]), at_ms)
            self._alerts(conn, scope, rows, at_ms)
            self._last[key] = (rows, {**snap["motors"], "_t": snap.get("t", 0)})
            self.applied += 1

    def _load(self, conn: Connection, tenant: str, plant: str) -> Rows:
        """The rows as stored (after a restart of the cloud), for the first comparison."""

        def by(table: Table, col: str) -> dict[str, dict[str, Any]]:
            sel = select(table).where(table.c.tenant == tenant, table.c.plant == plant)
            return {
                r[col]: {k: v for k, v in r.items() if k not in ("tenant", "plant", "updated_ms")}
                for r in conn.execute(sel).mappings()
            }

        cookies = {
            k: {c: v[c] for c in ("id", "flavor", "state", "location", "carrier")}
            for k, v in by(t.cookies, "id").items()
        }
        comps = {
            k: {c: v for c, v in r.items() if c != "replaced_ms"}
            for k, r in by(t.components, "id").items()
        }
        return Rows(by(t.slots, "slot"), by(t.carriers, "id"), cookies, comps, {})

    @staticmethod
    def _upsert(
        conn: Connection,
        table: Table,
        scope: dict[str, str],
        key: dict[str, Any],
        row: dict[str, Any],
    ) -> None:
        where = and_(*(table.c[c] == v for c, v in (scope | key).items()))
        values = {c: v for c, v in row.items() if c not in key}
        if conn.execute(update(table).where(where).values(**values)).rowcount == 0:
            conn.execute(insert(table).values(**scope, **key, **values))

    def _cookies(
        self, conn: Connection, scope: dict[str, str], rows: Rows, prev: Rows, at_ms: int
    ) -> None:
        c = t.cookies.c
        for cid, row in rows.cookies.items():
            old = prev.cookies.get(cid)
            if old == row:
                continue
            if (
                old is None
                and conn.execute(
                    update(t.cookies)
                    .where(c.tenant == scope["tenant"], c.plant == scope["plant"], c.id == cid)
                    .values(**row, updated_ms=at_ms)
                ).rowcount
            ):
                continue
            if old is None:
                conn.execute(
                    insert(t.cookies).values(**scope, **row, created_ms=at_ms, updated_ms=at_ms)
                )
            else:
                self._upsert(conn, t.cookies, scope, {"id": cid}, row | {"updated_ms": at_ms})
        shipped_more = rows.machine["shipped"] > int(prev.machine.get("shipped", 0) or 0)
        for cid, old in prev.cookies.items():
            if cid in rows.cookies or old["location"] in GONE:
                continue
            shipped = cid in rows.shipped_cookies or shipped_more
            values = {
                "location": "SHIPPED" if shipped else "GONE",
                "carrier": None,
                "updated_ms": at_ms,
            } | ({"state": "SHIPPED"} if shipped else {})
            self._upsert(conn, t.cookies, scope, {"id": cid}, values)
            gone = {**old, **values}
            gone.pop("updated_ms", None)
            rows.cookies[cid] = gone

    def _orders(
        self, conn: Connection, scope: dict[str, str], snap: Mapping[str, Any], at_ms: int
    ) -> None:
        seen = list(snap.get("orders") or [])
        current = snap.get("current_order")
        for o in ([current] if current else []) + seen:
            if o is current:
                state, ended = "running", None
            else:
                state, ended = ("succeeded" if o.get("ok") else "failed"), at_ms
            oc = t.orders.c
            where = (oc.tenant == scope["tenant"], oc.plant == scope["plant"], oc.id == o["id"])
            known = conn.execute(select(oc.state).where(*where)).scalar_one_or_none()
            if known in ("succeeded", "failed") or known == state:
                continue
            values = {
                "slot": o.get("slot"),
                "cookie": o.get("cookie"),
                "state": state,
                "reason": str(o.get("reason") or "")[:300],
                "final_state": o.get("final_state"),
                "ended_ms": ended,
            }
            if known is None:
                conn.execute(
                    insert(t.orders).values(
                        **scope,
                        id=o["id"],
                        kind=o["kind"],
                        flavor=o.get("flavor"),
                        requested_by="device",
                        created_ms=at_ms,
                        **values,
                    )
                )
            else:
                conn.execute(update(t.orders).where(*where).values(**values))

    def _energy(
        self, conn: Connection, scope: dict[str, str], incs: Mapping[str, Any], at_ms: int
    ) -> None:
        minute = at_ms - at_ms % MINUTE_MS
        e = t.energy.c
        for device, inc in incs.items():
            where = (
                e.tenant == scope["tenant"],
                e.plant == scope["plant"],
                e.device == device,
                e.minute_ms == minute,
            )
            done = conn.execute(
                update(t.energy)
                .where(*where)
                .values(
                    energy_wh=e.energy_wh + inc.energy_wh,
                    running_s=e.running_s + inc.running_s,
                    spikes=e.spikes + inc.spikes,
                    stops=e.stops + inc.stops,
                    peak_w=func.max(e.peak_w, inc.power_w)
                    if conn.dialect.name == "sqlite"
                    else func.greatest(e.peak_w, inc.power_w),
                )
            ).rowcount
            if not done:
                conn.execute(
                    insert(t.energy).values(
                        **scope,
                        device=device,
                        minute_ms=minute,
                        energy_wh=inc.energy_wh,
                        running_s=inc.running_s,
                        spikes=inc.spikes,
                        stops=inc.stops,
                        peak_w=inc.power_w,
                    )
                )

    def _alerts(self, conn: Connection, scope: dict[str, str], rows: Rows, at_ms: int) -> None:
        a = t.alerts.c
        open_ = {
            (r.component, r.kind): r
            for r in conn.execute(
                select(a.id, a.component, a.kind, a.value).where(
                    a.tenant == scope["tenant"], a.plant == scope["plant"], a.cleared_ms.is_(None)
                )
            )
        }
        now = conditions(rows)
        for key, cond in now.items():
            if key not in open_:
                conn.execute(
                    insert(t.alerts).values(
                        **scope,
                        component=cond.component,
                        kind=cond.kind,
                        severity=cond.severity,
                        message=cond.message,
                        value=cond.value,
                        raised_ms=at_ms,
                    )
                )
            elif cond.kind == "micro_stoppage" and open_[key].value != cond.value:
                conn.execute(
                    update(t.alerts)
                    .where(a.id == open_[key].id)
                    .values(message=cond.message, value=cond.value)
                )
        for key, row in open_.items():
            if key not in now:
                conn.execute(update(t.alerts).where(a.id == row.id).values(cleared_ms=at_ms))

    # -- orders and maintenance from the API and the page --
    def add_order(
        self,
        tenant: str,
        plant: str,
        cmd_id: str,
        kind: str,
        slot: str | None,
        flavor: str | None,
        requested_by: str,
        at_ms: int,
    ) -> None:
        """Record an order just sent as the command ``cmd_id`` (queued)."""
        with self.engine.begin() as conn:
            scope = {"tenant": tenant, "plant": plant}
            row = {
                "kind": kind,
                "slot": slot,
                "flavor": flavor,
                "state": "queued",
                "reason": "",
                "requested_by": requested_by[:200],
                "created_ms": at_ms,
            }
            self._upsert(conn, t.orders, scope, {"id": cmd_id}, row)

    def forget(self, tenant: str, plant: str) -> None:
        """Drop a plant's whole warehouse state (tests; a decommissioned plant)."""
        with self._lock, self.engine.begin() as conn:
            for table in (
                t.slots,
                t.carriers,
                t.cookies,
                t.components,
                t.machine,
                t.orders,
                t.alerts,
                t.energy,
            ):
                conn.execute(delete(table).where(table.c.tenant == tenant, table.c.plant == plant))
            self._last.pop((tenant, plant), None)
