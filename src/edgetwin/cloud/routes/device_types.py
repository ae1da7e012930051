"""``GET /api/v1/device-types`` and ``GET /api/v1/device-types/{name}``: the kinds of machine the
enabled packs declare (metrics with units, ranges, states and fault codes; commands with their
argument schema and what completes them), as :meth:`DeviceType.public` gives them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from edgetwin.cloud.deps import CallerDep
from edgetwin.cloud.params import NamePath
from edgetwin.core.device import Completion, DeviceType, MetricKind

router = APIRouter(prefix="/api/v1", tags=["device types"])


class MetricPublic(BaseModel):
    """One metric of a device type."""

    name: str = Field(description="the metric segment of the reading's topic, e.g. temp")
    unit: str = Field(description="the unit as sent on the wire, e.g. °C")
    kind: MetricKind = Field(
        description="gauge: a level now; count: how many since the last reading; "
        "counter: a running total; enum: a code of `states`"
    )
    description: str
    min: float | None = Field(description="plausible lower bound (readings are never clipped)")
    max: float | None = Field(description="plausible upper bound")
    states: dict[str, str] = Field(description="enum code (as a string) -> label")
    fault_states: list[int] = Field(description="the codes that count as a fault in the KPIs")


class CommandPublic(BaseModel):
    """One command a device type takes."""

    name: str = Field(description="upper case, e.g. REBOOT")
    description: str
    args: dict[str, Any] | None = Field(description="JSON Schema of the arguments; null: none")
    completes_on: Completion = Field(
        description="acknowledged: the device's ack ends it; restarted: it succeeds when the "
        "device is seen to restart"
    )
    timeout_s: float = Field(description="seconds the device has to answer")


class DeviceTypePublic(BaseModel):
    """A kind of machine a pack declares."""

    name: str = Field(description="stable name, pack.kind, e.g. factory.machine")
    title: str
    pack: str
    description: str
    metrics: list[MetricPublic]
    commands: list[CommandPublic]


def get_device_types(request: Request) -> tuple[DeviceType, ...]:
    types: tuple[DeviceType, ...] = request.app.state.device_types
    return types


DeviceTypesDep = Annotated[tuple[DeviceType, ...], Depends(get_device_types)]


@router.get("/device-types", summary="The device types of the enabled packs")
async def device_types(types: DeviceTypesDep, caller: CallerDep) -> list[DeviceTypePublic]:
    return [
        DeviceTypePublic.model_validate(t.public()) for t in types if caller.may_see_type(t.name)
    ]


@router.get(
    "/device-types/{name}",
    summary="One device type",
    responses={404: {"description": "no enabled pack declares this device type"}},
)
async def device_type(name: NamePath, types: DeviceTypesDep, caller: CallerDep) -> DeviceTypePublic:
    for t in types:
        if t.name == name and caller.may_see_type(t.name):
            return DeviceTypePublic.model_validate(t.public())
    raise HTTPException(404, f"no device type {name!r}")
