"""The warehouse as a device: commands in, answers and readings out. Pure code (no I/O).

:class:`WarehouseDevice` wraps the controller. A command (``{"id", "name", "args"}``) is checked
against the controller's device type (argument models, ``extra="forbid"``) and acted on once: a
repeated id gets its first answer again. An order is answered when it ends (``ok`` with the
cookie's final state, or the reason it failed); the other commands at once. :func:`snapshot` is
the whole machine as the device reports it, retained, for the cloud and the page;
:func:`readings` are the per-motor and per-sensor values as edgetwin readings.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from edgetwin.core.point import Point
from edgetwin.packs.warehouse.components import COMPONENTS
from edgetwin.packs.warehouse.controller import Controller, Order
from edgetwin.packs.warehouse.device_types import (
    CONTROLLER,
    CONTROLLER_TYPE,
    LINE,
    MACHINES,
    PACKML_STATES,
    short,
)
from edgetwin.packs.warehouse.model import Cookie, State

ORDERS = {"STORE": "store", "PROCESS": "process", "SHIP": "ship"}
KEEP_ANSWERS = 1000
RECENT_ORDERS = 20


def _wh(joules: float) -> float:
    return joules / 3600.0


class WarehouseDevice:
    """The controller behind a command interface; ``answers`` collects what to publish."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller
        self.answers: list[dict[str, Any]] = []
        self._answered: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._pending: set[str] = set()
        self.recent: list[dict[str, Any]] = []
        self.rejected = 0

    def command(self, body: dict[str, Any]) -> None:
        """Act on one command (at most once per id); its answer goes to ``answers`` now, or
        when its order ends."""
        cmd_id = str(body.get("id", ""))
        name = str(body.get("name", "")).upper()
        if not cmd_id:
            self.rejected += 1
            return
        if cmd_id in self._answered:
            self.answers.append(self._answered[cmd_id])
            return
        if cmd_id in self._pending:
            return  # under way: its answer comes when it ends
        reply = self._act(cmd_id, name, body.get("args") or {})
        if reply is not None:
            self._answer(reply)

    def _answer(self, reply: dict[str, Any]) -> None:
        self._answered[reply["id"]] = reply
        while len(self._answered) > KEEP_ANSWERS:
            self._answered.popitem(last=False)
        self.answers.append(reply)

    def _act(self, cmd_id: str, name: str, args: Any) -> dict[str, Any] | None:
        spec = CONTROLLER_TYPE.command(name)
        if spec is None:
            known = ", ".join(c.name for c in CONTROLLER_TYPE.commands)
            return {"id": cmd_id, "ok": False, "error": f"unknown command {name}; known: {known}"}
        try:
            parsed = spec.args.model_validate(args) if spec.args else None
        except ValidationError as exc:
            return {"id": cmd_id, "ok": False, "error": f"bad arguments: {exc.errors()[0]['msg']}"}
        values = parsed.model_dump() if parsed is not None else {}
        if name in ORDERS:
            order = Order(cmd_id, ORDERS[name], slot=values.get("slot"),  # type: ignore[arg-type]
                          flavor=values.get("flavor", "CHOCO"))  # fmt: skip
            reason = self.c.submit(order)
            if reason is not None:
                self.c.drain()
                return {"id": cmd_id, "ok": False, "error": reason}
            self._pending.add(cmd_id)
            return None
        if name == "ESTOP":
            self.c.emergency_stop(values.get("by") or "command")
            return {"id": cmd_id, "ok": True, "detail": {"state": self.c.machine_state}}
        if name in ("RESET", "INITIALISE"):
            reason = self.c.reset()
            if reason is not None:
                return {"id": cmd_id, "ok": False, "error": reason}
            return {"id": cmd_id, "ok": True, "detail": {"state": self.c.machine_state}}
        motor = values["motor"]
        if motor not in self.c.state.motors:
            return {"id": cmd_id, "ok": False, "error": f"no powered component {motor}"}
        self.c.replace_motor(motor)
        return {"id": cmd_id, "ok": True, "detail": {"motor": motor, "health": 1.0}}

    def collect(self) -> None:
        """Answer the orders that ended since the last call."""
        for order in self.c.drain():
            self.recent = [order.public(), *self.recent][:RECENT_ORDERS]
            if order.id not in self._pending:
                continue
            self._pending.discard(order.id)
            detail = {"slot": order.slot, "cookie": order.cookie, "final_state": order.final_state}
            if order.ok:
                self._answer({"id": order.id, "ok": True, "detail": detail})
            else:
                self._answer({"id": order.id, "ok": False, "error": order.reason, **detail})


def _cookie(c: Cookie | None) -> dict[str, str] | None:
    return None if c is None else {"id": c.id, "flavor": c.flavor, "state": c.state.value}


def snapshot(dev: WarehouseDevice, speed: float = 1.0) -> dict[str, Any]:
    """The machine as one JSON object: positions (mm), actuators, barriers, the rack, material
    in transit, every powered component (A, health, h, Wh), the PackML state and the orders."""
    c = dev.c
    s: State = c.state
    cookie = s.cookies.get
    motors = {
        m: {
            "current_a": round(x.current_a, 4),
            "health": round(x.health, 6),
            "ttf_h": round(x.ttf_h, 4),
            "energy_wh": round(_wh(x.energy_j), 6),
            "running_s": round(x.running_s, 2),
            "spikes": x.spikes,
            "stops": x.stops,
            "on": x.on_for is not None,
        }
        for m, x in s.motors.items()
    }
    current = c.current.public() if c.current else None
    return {
        "online": True,
        "t": round(s.t, 2),
        "speed": speed,
        "machine_state": c.machine_state,
        "latched": c.latched,
        "latched_by": c.latched_by,
        "axes": {a: round(x.pos, 3) for a, x in s.axes.items()},
        "moving": {a: x.moving for a, x in s.axes.items()},
        "gripper_closed": s.gripper_closed,
        "vacuum": s.vacuum,
        "oven": s.oven,
        "barriers": dict(s.barriers),
        "slots": {
            slot: {
                "carrier": car,
                "cookie": _cookie(cookie(s.carriers[car] or "")) if car else None,
            }
            for slot, car in s.slots.items()
        },
        "transit": {
            "hbw": s.hbw_carrier,
            "belt": s.belt_carrier,
            "belt_cookie": _cookie(cookie(s.carriers.get(s.belt_carrier or "") or "")),
            "hbw_cookie": _cookie(cookie(s.carriers.get(s.hbw_carrier or "") or "")),
            "vgr": _cookie(cookie(s.vgr_cookie or "")),
            "intake": _cookie(cookie(s.intake or "")),
            "packaging": _cookie(cookie(s.packaging or "")),
        },
        "motors": motors,
        "power_w": round(s.power_w(), 3),
        "energy_wh": round(_wh(sum(m.energy_j for m in s.motors.values())), 6),
        "shipped": s.shipped,
        "dropped": s.dropped,
        "current_order": current,
        "queue": len(c.queue),
        "orders": dev.recent,
        "counters": dict(c.counters),
        "events": [list(e) for e in list(c.events)[-20:]],
    }


def readings(dev: WarehouseDevice, ts: datetime, tenant: str, plant: str) -> list[Point]:
    """Every motor and sensor, and the controller's figures, as readings stamped ``ts``."""
    s = dev.c.state
    out: list[Point] = []

    def add(machine: str, metric: str, value: float, unit: str) -> None:
        out.append(Point.make(ts=ts, tenant=tenant, plant=plant, line=LINE, machine=machine,
                              metric=metric, value=value, unit=unit))  # fmt: skip

    for spec in COMPONENTS:
        machine, name = MACHINES[spec.subsystem], short(spec)
        if spec.axis is not None:
            add(machine, f"{spec.axis}_pos", round(s.pos(f"{machine}.{spec.axis}"), 3), "mm")
        if spec.kind == "sensor":
            add(machine, name, 1.0 if s.barriers[spec.id] else 0.0, "enum")
            continue
        m = s.motors[spec.id]
        add(machine, f"{name}_current", round(m.current_a, 4), "A")
        add(machine, f"{name}_health", round(m.health, 6), "1")
        add(machine, f"{name}_ttf", round(m.ttf_h, 4), "h")
        add(machine, f"{name}_energy", round(_wh(m.energy_j), 6), "Wh")
    add("hbw", "gripper_closed", float(s.gripper_closed), "enum")
    add("conveyor", "oven", float(s.oven), "enum")
    add("vgr", "vacuum", float(s.vacuum), "enum")
    stock = sum(1 for car in s.slots.values() if car and s.carriers[car])
    add(CONTROLLER, "machine_state", float(PACKML_STATES.index(dev.c.machine_state)), "enum")
    add(CONTROLLER, "power", round(s.power_w(), 3), "W")
    add(CONTROLLER, "energy", round(_wh(sum(m.energy_j for m in s.motors.values())), 6), "Wh")
    add(CONTROLLER, "orders_done", float(sum(
        v for k, v in dev.c.counters.items() if k.startswith("order_"))), "count")  # fmt: skip
    add(CONTROLLER, "stock", float(stock), "units")
    return out
