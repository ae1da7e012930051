"""The warehouse's devices as device types: the controller that takes orders, and the HBW, the
conveyor and the VGR with a reading for every motor and sensor.

Where they are: line ``stf`` (the reference's Smart Tabletop Factory), machines ``warehouse``
(the controller: orders go to it), ``hbw``, ``conveyor`` and ``vgr``. Per powered component
``<short>_current`` (A, the tick's mean), ``<short>_health`` (1 new .. 0), ``<short>_ttf``
(h, time to failure) and ``<short>_energy`` (Wh, a running total); per axis ``<axis>_pos``
(mm); per light barrier ``l1``..``l4`` (0 free, 1 interrupted).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.device import CommandSpec, DeviceType, MetricSpec, NoArgs
from edgetwin.packs.warehouse.components import COMPONENTS, SLOTS, ComponentSpec

LINE = "stf"
CONTROLLER = "warehouse"
MACHINES = {"HBW": "hbw", "CONVEYOR": "conveyor", "VGR": "vgr"}
PACKML_STATES = (
    "Stopped", "Resetting", "Idle", "Starting", "Execute", "Completing", "Complete",
    "Aborting", "Aborted", "Clearing",
)  # fmt: skip
ORDER_TIMEOUT_S = 900.0
"""An order's answer comes when its motion is done: at most 8 queued orders of ~70 s each at
real speed, plus margin."""

SlotName = Literal["A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3"]
assert set(SlotName.__args__) == set(SLOTS)  # type: ignore[attr-defined]
Flavor = Literal["CHOCO", "VANILLA", "STRAWBERRY"]


class StoreArgs(BaseModel):
    """Store a raw cookie: into ``slot`` (its carrier must be empty), or the first free one."""

    model_config = ConfigDict(extra="forbid")
    slot: SlotName | None = None
    flavor: Flavor = "CHOCO"


class SlotArgs(BaseModel):
    """The slot whose cookie the order takes."""

    model_config = ConfigDict(extra="forbid")
    slot: SlotName


class EstopArgs(BaseModel):
    """Who pressed the emergency stop (the caller's name; kept with the latch)."""

    model_config = ConfigDict(extra="forbid")
    by: str | None = Field(None, min_length=1, max_length=200)


class MotorArgs(BaseModel):
    """The powered component to replace (``HBW_X_MOTOR``...)."""

    model_config = ConfigDict(extra="forbid")
    motor: str = Field(pattern=r"^[A-Z0-9_]{2,32}$")


def short(spec: ComponentSpec) -> str:
    """A component's metric prefix: ``HBW_X_MOTOR`` -> ``x``, ``CONV_M1`` -> ``m1``,
    ``VGR_COMP`` -> ``comp``."""
    name = spec.id.split("_", 1)[1].lower()
    return name.removesuffix("_motor")


def _metrics(subsystem: str) -> tuple[MetricSpec, ...]:
    out: list[MetricSpec] = []
    for c in COMPONENTS:
        if c.subsystem != subsystem:
            continue
        s = short(c)
        if c.axis is not None:
            out.append(MetricSpec(f"{c.axis}_pos", "mm", "gauge", f"{c.description}: position",
                                  min=0.0, max=1000.0))  # fmt: skip
        if c.kind == "sensor":
            out.append(
                MetricSpec(s, "enum", "enum", c.description, states={0: "FREE", 1: "BLOCKED"})
            )
            continue
        out += [
            MetricSpec(f"{s}_current", "A", "gauge", f"{c.id} current", min=0.0, max=5.0),
            MetricSpec(f"{s}_health", "1", "gauge", f"{c.id} health (1 new)", min=0.0, max=1.0),
            MetricSpec(f"{s}_ttf", "h", "gauge", f"{c.id} time to failure", min=0.0),
            MetricSpec(f"{s}_energy", "Wh", "counter", f"{c.id} energy since start", min=0.0),
        ]
    return tuple(out)


def _device(subsystem: str, title: str, extra: tuple[MetricSpec, ...] = ()) -> DeviceType:
    return DeviceType(
        name=f"warehouse.{MACHINES[subsystem]}",
        title=title,
        pack="warehouse",
        description=f"The warehouse's {title}: every motor and sensor, 1 reading/s each.",
        metrics=_metrics(subsystem) + extra,
    )


HBW = _device("HBW", "high-bay warehouse robot (HBW)",
              (MetricSpec("gripper_closed", "enum", "enum", "latch", states={0: "OPEN", 1: "CLOSED"}),))  # fmt: skip
CONVEYOR = _device("CONVEYOR", "conveyor with oven",
                   (MetricSpec("oven", "enum", "enum", "oven", states={0: "OFF", 1: "ON"}),))  # fmt: skip
VGR = _device("VGR", "vacuum gripper robot (VGR)",
              (MetricSpec("vacuum", "enum", "enum", "vacuum", states={0: "OFF", 1: "ON"}),))  # fmt: skip

CONTROLLER_TYPE = DeviceType(
    name="warehouse.controller",
    title="Warehouse controller",
    pack="warehouse",
    description="The PackML controller of the tabletop warehouse: orders, interlocks, e-stop.",
    metrics=(
        MetricSpec(
            "machine_state",
            "enum",
            "enum",
            "PackML state",
            states=dict(enumerate(PACKML_STATES)),
            fault_states=frozenset({PACKML_STATES.index("Aborted")}),
        ),
        MetricSpec("power", "W", "gauge", "electrical power of the whole warehouse", min=0.0),
        MetricSpec("energy", "Wh", "counter", "energy since start", min=0.0),
        MetricSpec("orders_done", "count", "counter", "orders finished since start", min=0.0),
        MetricSpec("stock", "units", "gauge", "cookies in the rack", min=0.0, max=9.0),
    ),
    commands=(
        CommandSpec(
            "STORE", "store a raw cookie from the intake", StoreArgs, timeout_s=ORDER_TIMEOUT_S
        ),
        CommandSpec(
            "PROCESS",
            "bake, package and store back a slot's raw cookie",
            SlotArgs,
            timeout_s=ORDER_TIMEOUT_S,
        ),
        CommandSpec(
            "SHIP", "retrieve a slot's cookie and ship it", SlotArgs, timeout_s=ORDER_TIMEOUT_S
        ),
        CommandSpec(
            "INITIALISE",
            "reset to Idle: bring carriers home, axes home",
            NoArgs,
            timeout_s=ORDER_TIMEOUT_S,
        ),
        CommandSpec(
            "RESET",
            "clear a latched emergency stop and reset to Idle",
            NoArgs,
            timeout_s=ORDER_TIMEOUT_S,
        ),
        CommandSpec("ESTOP", "emergency stop: every axis halts, latched until reset", EstopArgs),
        CommandSpec("REPLACE_MOTOR", "a new motor: health back to 1", MotorArgs),
    ),
)

DEVICE_TYPES = (CONTROLLER_TYPE, HBW, CONVEYOR, VGR)
DEVICE_TYPE_OF = {CONTROLLER: CONTROLLER_TYPE, "hbw": HBW, "conveyor": CONVEYOR, "vgr": VGR}
