"""The warehouse's relational state on SQLite and PostgreSQL: migrations, and the tables kept
current from the controller's snapshots while real orders run (store, process, ship), the
energy log equal to the motors' own totals, alerts raised and cleared, the analytics and the
CSV export."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from edgetwin.core.settings import load_settings
from edgetwin.packs.warehouse import reads
from edgetwin.packs.warehouse import tables as t
from edgetwin.packs.warehouse.analytics import analytics, export_rows
from edgetwin.packs.warehouse.controller import Controller
from edgetwin.packs.warehouse.device import WarehouseDevice, snapshot
from edgetwin.packs.warehouse.history import write_history
from edgetwin.packs.warehouse.store import WarehouseStore, url_for
from tests.store.conftest import KINDS

T, P = "acme", "plant-wh"
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WarehouseStore]:
    db = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    settings = load_settings(data_dir=tmp_path, db=db)
    s = WarehouseStore(url_for(settings))
    s.open()
    yield s
    s.close()


class Plant:
    """A controller whose snapshot goes to the store once per simulated second."""

    def __init__(self, store: WarehouseStore) -> None:
        self.store = store
        self.dev = WarehouseDevice(Controller(rng=random.Random(4)))
        self.dev.c.reset()
        self.first_wh: float | None = None

    def apply(self) -> None:
        snap = orjson.loads(orjson.dumps(snapshot(self.dev)))  # as it travels
        if self.first_wh is None:
            self.first_wh = sum(m["energy_wh"] for m in snap["motors"].values())
        self.store.apply(T, P, snap, BASE_MS + int(self.dev.c.state.t * 1000))

    def order(self, cmd_id: str, name: str, **args: str) -> dict[str, object]:
        self.dev.command({"id": cmd_id, "name": name, "args": args})
        for tick in range(5000):
            self.dev.c.tick()
            self.dev.collect()
            if tick % 10 == 0:
                self.apply()
            if self.dev.answers:
                self.apply()
                return self.dev.answers.pop()
        raise AssertionError(f"{name} did not end")


def test_migrations_are_versioned_and_applied_once(store: WarehouseStore) -> None:
    assert store.migrated == [1, 2]
    with store.engine.begin() as conn:
        assert t.migrate(conn) == []
        versions = list(conn.execute(select(t.migrations_table.c.version)).scalars())
    assert sorted(versions) == [1, 2]


def test_orders_keep_the_tables_current_and_the_energy_log_exact(store: WarehouseStore) -> None:
    plant = Plant(store)
    plant.apply()
    assert plant.order("o1", "STORE", slot="B3", flavor="VANILLA")["ok"] is True
    inv = reads.inventory(store, T, P)
    b3 = next(s for s in inv.slots if s.slot == "B3")
    assert b3.carrier == "CAR-B3"
    assert b3.cookie is not None
    assert b3.cookie.state == "RAW_DOUGH"
    assert b3.cookie.flavor == "VANILLA"
    assert inv.stock == 1
    cookie = b3.cookie.id
    assert plant.order("o2", "PROCESS", slot="B3")["ok"] is True
    b3 = next(s for s in reads.inventory(store, T, P).slots if s.slot == "B3")
    assert b3.cookie is not None
    assert (b3.cookie.id, b3.cookie.state) == (cookie, "PACKAGED")
    assert plant.order("o3", "SHIP", slot="B3")["ok"] is True
    inv = reads.inventory(store, T, P)
    assert inv.stock == 0
    assert inv.elsewhere == []
    with store.engine.connect() as conn:
        row = conn.execute(select(t.cookies).where(t.cookies.c.id == cookie)).one()
        logged = conn.execute(select(func.sum(t.energy.c.energy_wh))).scalar_one()
    assert (row.state, row.location) == ("SHIPPED", "SHIPPED")
    done = {o.id: (o.kind, o.state, o.final_state) for o in reads.orders(store, T, P)}
    assert done == {"o1": ("store", "succeeded", "RAW_DOUGH"),
                    "o2": ("process", "succeeded", "PACKAGED"),
                    "o3": ("ship", "succeeded", "SHIPPED")}  # fmt: skip
    # the energy log holds what the motors drew between the first and the last snapshot
    motors = plant.dev.c.state.motors
    total = sum(m.energy_j for m in motors.values()) / 3600
    assert plant.first_wh is not None
    assert logged == pytest.approx(total - plant.first_wh, rel=1e-4)
    while plant.dev.c.machine_state != "Idle":  # the order is answered, then the robots park
        plant.dev.c.tick()
    plant.apply()
    hw = reads.hardware(store, T, P)
    assert hw.machine_state == "Idle"
    assert hw.online
    assert len(hw.components) == 10
    assert hw.axes["hbw.x"] == pytest.approx(0.0)


def test_worn_motor_alerts_then_replacement_clears_them(store: WarehouseStore) -> None:
    plant = Plant(store)
    c = plant.dev.c
    worn = replace(c.state.motors["HBW_X_MOTOR"], health=0.6, stops=2)
    c.state = replace(c.state, motors={**c.state.motors, "HBW_X_MOTOR": worn})
    plant.apply()
    open_ = {(a.component, a.kind) for a in reads.alerts(store, T, P, open_only=True)}
    assert open_ == {("HBW_X_MOTOR", "ttf_low"), ("HBW_X_MOTOR", "micro_stoppage")}
    c.emergency_stop("alice")
    c.tick()
    plant.apply()
    estop = next(a for a in reads.alerts(store, T, P, open_only=True) if a.kind == "estop")
    assert "alice" in estop.message
    plant.dev.command({"id": "r1", "name": "REPLACE_MOTOR", "args": {"motor": "HBW_X_MOTOR"}})
    c.tick()
    plant.apply()
    still = {(a.component, a.kind) for a in reads.alerts(store, T, P, open_only=True)}
    assert still == {("WAREHOUSE", "estop")}
    x = next(m for m in reads.hardware(store, T, P).components if m.id == "HBW_X_MOTOR")
    assert x.health == 1.0
    assert x.replaced_at is not None
    assert len(reads.alerts(store, T, P)) == 3  # raised, then cleared: all kept


def test_analytics_and_the_streamed_export(store: WarehouseStore) -> None:
    end = datetime(2026, 1, 3, tzinfo=UTC)
    written = write_history(store, T, P, days=2, end=end)
    assert written["energy"] == 2 * 1440 * 3
    a = analytics(store, T, P, end - timedelta(days=2), end, 3600)
    assert len(a.buckets) == 48
    night, day = (
        a.buckets.index("2026-01-01T02:00:00.000Z"),
        a.buckets.index("2026-01-01T12:00:00.000Z"),
    )
    hbw = next(s for s in a.utilisation if s.name == "hbw").values
    assert (hbw[night] or 0) == 0 < (hbw[day] or 0) <= 100
    done = sum(v or 0 for s in a.throughput for v in s.values)
    assert done + a.orders_failed == written["orders"]
    with store.engine.connect() as conn:
        logged = conn.execute(select(func.sum(t.energy.c.energy_wh))).scalar_one()
    assert sum(a.energy_total_wh.values()) == pytest.approx(logged, rel=1e-6)
    chunks = list(export_rows(store, "energy", T, P, end - timedelta(days=2), end))
    assert chunks[0].startswith("device,minute_ms,energy_wh")
    assert len(chunks) == 1 + -(-written["energy"] // 1000)  # a header, then 1000-row chunks
    lines = "".join(chunks).splitlines()
    assert len(lines) == written["energy"] + 1
    assert lines[1].endswith("2026-01-01T00:00:00.000Z")
    other = analytics(store, "beta", P, end - timedelta(days=2), end, 3600)
    assert sum(other.energy_total_wh.values()) == 0  # another tenant's plant sees nothing
