"""The warehouse API's request and response models (``/api/v1/warehouse/...``).

Units: positions mm, currents A, power W, energy Wh, health 1 (new) .. 0, times to failure h;
times ISO 8601 UTC. Requests refuse unknown fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edgetwin.packs.warehouse.components import POWERED
from edgetwin.packs.warehouse.device_types import Flavor, SlotName

CookieStateName = Literal["RAW_DOUGH", "BAKED", "PACKAGED", "SHIPPED"]
MotorName = Literal[POWERED]  # type: ignore[valid-type]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreOrder(_Request):
    """Store a raw cookie from the intake: into ``slot`` (its carrier empty), or the first free
    slot when none is given."""

    slot: SlotName | None = None
    flavor: Flavor = "CHOCO"


class SlotOrder(_Request):
    """An order on the cookie in ``slot``: retrieve (ship) it, or process it (bake, package,
    store back)."""

    slot: SlotName


class ReplaceMotor(_Request):
    """Fit a new motor (health back to 1) in place of ``motor``."""

    motor: MotorName = Field(examples=["HBW_X_MOTOR"])


class CookieOut(BaseModel):
    id: str
    flavor: str
    state: str = Field(description="RAW_DOUGH, BAKED, PACKAGED or SHIPPED")
    location: str = Field(description="a slot, HBW, CONVEYOR, VGR, INTAKE, PACKAGING, SHIPPED")


class SlotOut(BaseModel):
    slot: str = Field(examples=["A1"])
    x_mm: float = Field(description="HBW X of the slot, mm")
    y_mm: float = Field(description="HBW Y of the slot, mm")
    carrier: str | None = Field(description="the carrier in the slot; null while it is out")
    cookie: CookieOut | None


class Inventory(BaseModel):
    """The rack (3×3) and the cookies outside it."""

    tenant: str
    plant: str
    updated_at: str | None = Field(description="when the device last reported; null: never")
    slots: list[SlotOut]
    elsewhere: list[CookieOut] = Field(description="cookies in the machine but not in the rack")
    stock: int = Field(description="cookies in the rack")


class ComponentSpecOut(BaseModel):
    """A component's spec sheet (sensors: no electrical figures)."""

    id: str
    subsystem: str
    kind: str
    description: str
    voltage_v: float | None
    idle_a: float | None
    inrush_a: float | None
    inrush_s: float | None
    running_a: float | None
    spike_a: float | None
    axis: str | None
    position_mm: float | None


class ComponentState(BaseModel):
    """A powered component's condition, as last reported."""

    id: str
    subsystem: str
    current_a: float
    health: float
    ttf_h: float = Field(description="running hours left until health 0.5")
    energy_wh: float = Field(description="since the device process started")
    running_s: float
    spikes: int
    stops: int = Field(description="micro-stoppages since it was fitted")
    replaced_at: str | None


class HardwareStates(BaseModel):
    """The machine as last reported: PackML state, e-stop, axes, power and components."""

    tenant: str
    plant: str
    online: bool
    updated_at: str | None
    machine_state: str | None = Field(description="PackML state; null: never reported")
    latched: bool
    latched_by: str | None
    axes: dict[str, float] = Field(description="axis -> position, mm")
    power_w: float | None
    supply_limit_w: float
    energy_wh: float | None
    components: list[ComponentState]


class AlertOut(BaseModel):
    id: int
    component: str
    kind: str = Field(description="ttf_low, health_critical, micro_stoppage or estop")
    severity: str
    message: str
    value: float | None
    raised_at: str
    cleared_at: str | None


class OrderOut(BaseModel):
    id: str = Field(description="the command's id (GET /api/v1/devices/warehouse/commands/{id})")
    kind: str
    slot: str | None
    flavor: str | None
    cookie: str | None
    state: str = Field(description="queued, running, succeeded or failed")
    reason: str
    final_state: str | None
    requested_by: str
    created_at: str
    ended_at: str | None


class SeriesOut(BaseModel):
    """One named series over the range's buckets (``null``: no data in a bucket)."""

    name: str
    values: list[float | None]


class Anomaly(BaseModel):
    at: str
    kind: str
    component: str
    message: str


class Analytics(BaseModel):
    """The warehouse over a time range, in buckets of ``bucket_s``."""

    tenant: str
    plant: str
    start: str
    end: str
    bucket_s: int
    buckets: list[str] = Field(description="each bucket's start, ISO 8601 UTC")
    energy_wh: list[SeriesOut] = Field(description="energy per device and bucket, Wh")
    energy_total_wh: dict[str, float] = Field(description="device -> energy over the range, Wh")
    throughput: list[SeriesOut] = Field(description="orders done per bucket, by kind")
    orders_failed: int
    utilisation: list[SeriesOut] = Field(
        description="per device and bucket, the share of time its motors ran, %"
    )
    spikes: list[int]
    stops: list[int]
    anomalies: list[Anomaly] = Field(description="alerts raised in the range, newest first")
    took_ms: float = Field(description="time the store took to answer, ms")
