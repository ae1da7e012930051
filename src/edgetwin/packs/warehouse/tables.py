"""The warehouse's relational state: SQLAlchemy tables and their versioned migrations.

Every table is named ``warehouse_*`` (so it can share the cloud's PostgreSQL database with the
platform's own tables) and keyed by tenant and plant. Times are Unix milliseconds (UTC),
energies Wh, currents A, durations s.

Tables (the reference's, less those the platform already keeps: readings are in the cloud's
time-series store, commands in its command log):

- ``warehouse_slots``: the rack's 3×3 slots, their HBW X/Y (mm) and the carrier in each;
- ``warehouse_carriers``: the nine carriers, their home slot, where each is and its cookie;
- ``warehouse_cookies``: every cookie seen, its flavour, lifecycle state and place;
- ``warehouse_components``: the ten powered components' condition (health, TTF, counters);
- ``warehouse_machine``: the controller's PackML state, the e-stop latch and the axes;
- ``warehouse_orders``: orders sent through the API or the page, and what became of them;
- ``warehouse_alerts``: predictive-maintenance and e-stop alerts, raised and cleared;
- ``warehouse_energy``: the energy log, per device and minute (Wh, running s, spikes, stops).

Migrations are a list of numbered steps (:data:`MIGRATIONS`), applied in order inside one
transaction each and recorded in ``warehouse_migrations``; on PostgreSQL an advisory lock keeps
two cloud workers from applying the same step at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    select,
    text,
)

PREFIX: Final = "warehouse_"
metadata = MetaData()


def _keyed(name: str, *columns: Column[object], pk: tuple[str, ...] = ()) -> Table:
    """A table ``warehouse_{name}`` with ``tenant`` and ``plant`` leading its primary key."""
    tenant = Column("tenant", String(64), primary_key=True)
    plant = Column("plant", String(64), primary_key=True)
    for c in columns:
        if c.name in pk:
            c.primary_key = True
    return Table(PREFIX + name, metadata, tenant, plant, *columns)


migrations_table = Table(
    PREFIX + "migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_ms", BigInteger, nullable=False),
)

slots = _keyed(
    "slots",
    Column("slot", String(2)),
    Column("x_mm", Float, nullable=False),
    Column("y_mm", Float, nullable=False),
    Column("carrier", String(32), nullable=True),
    pk=("slot",),
)

carriers = _keyed(
    "carriers",
    Column("id", String(32)),
    Column("home_slot", String(2), nullable=False),
    Column("location", String(16), nullable=False),  # a slot, HBW or CONVEYOR
    Column("cookie", String(64), nullable=True),
    pk=("id",),
)

cookies = _keyed(
    "cookies",
    Column("id", String(64)),
    Column("flavor", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # RAW_DOUGH, BAKED, PACKAGED, SHIPPED
    Column("location", String(16), nullable=False),  # a slot, HBW, CONVEYOR, VGR, ... SHIPPED
    Column("carrier", String(32), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    pk=("id",),
)

components = _keyed(
    "components",
    Column("id", String(32)),
    Column("subsystem", String(16), nullable=False),
    Column("current_a", Float, nullable=False, default=0.0),
    Column("health", Float, nullable=False, default=1.0),
    Column("ttf_h", Float, nullable=False, default=0.0),
    Column("energy_wh", Float, nullable=False, default=0.0),
    Column("running_s", Float, nullable=False, default=0.0),
    Column("spikes", Integer, nullable=False, default=0),
    Column("stops", Integer, nullable=False, default=0),
    Column("replaced_ms", BigInteger, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
    pk=("id",),
)

machine = _keyed(
    "machine",
    Column("online", Boolean, nullable=False),
    Column("machine_state", String(16), nullable=False),
    Column("latched", Boolean, nullable=False),
    Column("latched_by", String(200), nullable=True),
    Column("axes", JSON, nullable=False),
    Column("power_w", Float, nullable=False),
    Column("energy_wh", Float, nullable=False),
    Column("shipped", Integer, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

orders = _keyed(
    "orders",
    Column("id", String(64)),
    Column("kind", String(16), nullable=False),  # store, process, ship
    Column("slot", String(2), nullable=True),
    Column("flavor", String(32), nullable=True),
    Column("cookie", String(64), nullable=True),
    Column("state", String(16), nullable=False),  # queued, running, succeeded, failed
    Column("reason", String(300), nullable=False, default=""),
    Column("final_state", String(16), nullable=True),
    Column("requested_by", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("ended_ms", BigInteger, nullable=True),
    pk=("id",),
)

alerts = Table(
    PREFIX + "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("plant", String(64), nullable=False),
    Column("component", String(32), nullable=False),
    Column("kind", String(24), nullable=False),  # ttf_low, health_critical, micro_stoppage, estop
    Column("severity", String(16), nullable=False),  # warning, critical
    Column("message", String(300), nullable=False),
    Column("value", Float, nullable=True),
    Column("raised_ms", BigInteger, nullable=False),
    Column("cleared_ms", BigInteger, nullable=True),
    Index("ix_warehouse_alerts_when", "tenant", "plant", "raised_ms"),
)

energy = _keyed(
    "energy",
    Column("device", String(16)),  # hbw, conveyor, vgr
    Column("minute_ms", BigInteger),
    Column("energy_wh", Float, nullable=False),
    Column("running_s", Float, nullable=False),
    Column("spikes", Integer, nullable=False),
    Column("stops", Integer, nullable=False),
    Column("peak_w", Float, nullable=False),
    pk=("device", "minute_ms"),
)


def _v1(conn: Connection) -> None:
    for table in (slots, carriers, cookies, components, machine, orders, alerts, energy):
        table.create(conn, checkfirst=True)


def _v2(conn: Connection) -> None:
    # The energy log and the orders are read by time range for the analytics. Plain DDL: an
    # Index object would attach itself to the table, and a later v1 on another database would
    # create it before this step does.
    for name, table, column in (
        ("ix_warehouse_energy_when", energy.name, "minute_ms"),
        ("ix_warehouse_orders_ended", orders.name, "ended_ms"),
    ):
        conn.execute(
            text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} (tenant, plant, {column})")
        )


MIGRATIONS: Final[tuple[tuple[int, str, Callable[[Connection], None]], ...]] = (
    (1, "slots, carriers, cookies, components, machine, orders, alerts, energy log", _v1),
    (2, "time indexes of the energy log and the orders", _v2),
)
"""(version, what it does, the step), in order. A new step is appended, never edited."""

_LOCK_KEY: Final = 0x57A2E  # the PostgreSQL advisory lock of the warehouse's migrations


def migrate(conn: Connection) -> list[int]:
    """Apply the steps of :data:`MIGRATIONS` the database lacks, in order, in the caller's
    transaction; the versions applied now (empty when up to date)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    migrations_table.create(conn, checkfirst=True)
    done = set(conn.execute(select(migrations_table.c.version)).scalars())
    applied = []
    for version, name, step in MIGRATIONS:
        if version in done:
            continue
        step(conn)
        conn.execute(
            migrations_table.insert().values(
                version=version, name=name, applied_ms=int(time.time() * 1000)
            )
        )
        applied.append(version)
    return applied
