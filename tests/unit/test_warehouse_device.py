"""The warehouse as a device: commands checked and acted on once, orders answered when their
motion ends, readings of every motor and sensor, the retained snapshot."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from edgetwin.packs.warehouse.components import COMPONENTS
from edgetwin.packs.warehouse.controller import Controller
from edgetwin.packs.warehouse.device import WarehouseDevice, readings, snapshot
from edgetwin.packs.warehouse.device_types import DEVICE_TYPE_OF


def device() -> WarehouseDevice:
    dev = WarehouseDevice(Controller(rng=random.Random(4)))
    dev.c.reset()
    return dev


def run(dev: WarehouseDevice, ticks: int) -> None:
    for _ in range(ticks):
        dev.c.tick()
        dev.collect()


def test_an_order_is_answered_once_when_its_motion_ends_and_never_run_twice() -> None:
    dev = device()
    dev.command({"id": "c1", "name": "STORE", "args": {"slot": "B3", "flavor": "VANILLA"}})
    assert dev.answers == []  # under way
    dev.command({"id": "c1", "name": "STORE", "args": {"slot": "B3"}})  # redelivered
    run(dev, 3000)
    assert len(dev.answers) == 1
    answer = dev.answers[0]
    assert answer["ok"] is True
    assert answer["detail"]["final_state"] == "RAW_DOUGH"
    assert answer["detail"]["slot"] == "B3"
    dev.answers.clear()
    dev.command({"id": "c1", "name": "STORE", "args": {"slot": "B3"}})  # again, later
    run(dev, 50)
    assert dev.answers == [answer]  # the same answer, not a second cookie
    stock = [s for s in snapshot(dev)["slots"].values() if s["cookie"]]
    assert len(stock) == 1


def test_bad_commands_are_refused_with_the_reason() -> None:
    dev = device()
    dev.command({"id": "a", "name": "FLY"})
    dev.command({"id": "b", "name": "PROCESS", "args": {"slot": "Z9"}})
    dev.command({"id": "c", "name": "SHIP", "args": {"slot": "A1", "extra": 1}})
    dev.command({"id": "d", "name": "REPLACE_MOTOR", "args": {"motor": "NOPE"}})
    errors = {a["id"]: a["error"] for a in dev.answers}
    assert errors["a"].startswith("unknown command FLY; known: STORE, PROCESS")
    assert errors["b"].startswith("bad arguments")
    assert errors["c"].startswith("bad arguments")
    assert errors["d"] == "no powered component NOPE"
    dev.command({"id": "e", "name": "ESTOP"})
    dev.command({"id": "f", "name": "PROCESS", "args": {"slot": "A1"}})
    assert dev.answers[-1] == {
        "id": "f",
        "ok": False,
        "error": "emergency stop latched: reset first",
    }


def test_readings_cover_every_motor_and_sensor_with_their_device_types() -> None:
    dev = device()
    run(dev, 10)
    points = readings(dev, datetime(2026, 1, 1, tzinfo=UTC), "acme", "plant-01")
    by_machine: dict[str, set[str]] = {}
    for p in points:
        by_machine.setdefault(p.machine, set()).add(p.metric)
        spec = DEVICE_TYPE_OF[p.machine].metric(p.metric)
        assert spec is not None, (p.machine, p.metric)
        assert spec.unit == p.unit
    for machine, dtype in DEVICE_TYPE_OF.items():
        assert by_machine[machine] == {m.name for m in dtype.metrics}
    assert {"x_current", "x_health", "x_ttf", "x_energy", "gripper_current"} <= by_machine["hbw"]
    assert {"l1", "l2", "l3", "l4", "m1_current", "belt_pos"} <= by_machine["conveyor"]
    assert {"comp_current", "valve_current", "z_pos"} <= by_machine["vgr"]
    assert len(snapshot(dev)["motors"]) == sum(c.kind != "sensor" for c in COMPONENTS)
