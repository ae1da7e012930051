"""The smart factory's cloud part: its KPIs (``GET /api/v1/kpis``) and its fault switches
(``POST /api/v1/faults/{cmd}``, ``GET /api/v1/faults``).

KPIs are built from the store's per-series aggregates, so they are as exact on PostgreSQL's
rollups as on the raw readings; the fault count is what the store counts by the device types'
fault states (``state`` FAULT). Fault switches are commands on ``v1/{tenant}/{plant}/cmd`` that
the factory's simulator obeys, as an operator would send them with ``mosquitto_pub`` (the
reference's endpoint only echoed them); their state is what the simulator and the edges report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from edgetwin.cloud.deps import AuthDep, CallerDep, OperatorDep, PlantLinkDep, ServicesDep
from edgetwin.cloud.packs import CloudPart
from edgetwin.cloud.params import NameQuery
from edgetwin.cloud.plant_link import PlantLink
from edgetwin.cloud.store import Store
from edgetwin.cloud.store.base import MetricAggregate
from edgetwin.core.point import format_ts
from edgetwin.core.topics import command_topic
from edgetwin.packs.factory.device_types import MACHINE

SIM_STATUS = "factory-sim"  # the simulator's status source: v1/{tenant}/{plant}/status/factory-sim

FaultCmd = Literal["bearing_fault", "energy_spike", "network_outage"]


# -- response models --
class Kpi(BaseModel):
    """Figures over a period for the whole plant, a line or a machine (None: no reading)."""

    avg_temp: float | None = Field(description="average temperature, °C")
    avg_vibration_rms: float | None = Field(description="average vibration RMS, mm/s")
    avg_energy_kw: float | None = Field(description="average power, kW")
    total_good_count: int | None = Field(description="good parts made")
    total_bad_count: int | None = Field(description="bad parts made")
    fault_count: int = Field(description="readings of a machine state that is a fault")
    total_points: int = Field(description="readings stored")


class LineKpi(Kpi):
    """A line's figures and its machines'."""

    machines: dict[str, Kpi] = Field(description="machine -> its figures")


class PlantKpis(BaseModel):
    """The plant's figures over the last ``period_minutes``, with its lines and machines."""

    tenant: str
    plant: str
    period_minutes: int
    avg_temp: float | None = Field(description="average temperature, °C")
    avg_vibration_rms: float | None = Field(description="average vibration RMS, mm/s")
    avg_energy_kw: float | None = Field(description="average power, kW")
    total_good_count: int | None = Field(description="good parts made")
    total_bad_count: int | None = Field(description="bad parts made")
    fault_count: int = Field(description="readings of a machine state that is a fault")
    total_points: int = Field(description="readings stored")
    timestamp: str = Field(description="when computed, ISO-8601 UTC")
    lines: dict[str, LineKpi] = Field(description="line -> its figures and its machines'")


class FaultPayload(BaseModel):
    cmd: FaultCmd
    value: bool


class FaultSent(BaseModel):
    """A fault command published to the plant (QoS 1)."""

    published: bool
    topic: str = Field(description="v1/{tenant}/{plant}/cmd")
    payload: FaultPayload


class FaultStates(BaseModel):
    """Applied faults as the devices report them."""

    tenant: str
    plant: str
    faults: dict[FaultCmd, bool | None] = Field(
        description="fault -> on or off as reported; null: not reported yet"
    )


# -- services (the factory's page calls these too) --
def _kpi(aggs: Sequence[MetricAggregate]) -> Kpi:
    # Values within ±1e150 (what the ingest accepts) never overflow a sum; a store holding
    # older, bigger values gets null figures rather than a 500.
    def avg(metric: str) -> float | None:
        sel = [a for a in aggs if a.metric == metric]
        n = sum(a.count for a in sel)
        mean = sum(a.total for a in sel) / n if n else math.nan
        return round(mean, 3) if math.isfinite(mean) else None

    def total(metric: str) -> int | None:
        value = sum(a.total for a in aggs if a.metric == metric)
        return int(value) if math.isfinite(value) else None

    return Kpi(
        avg_temp=avg("temp"),
        avg_vibration_rms=avg("vibration_rms"),
        avg_energy_kw=avg("energy_kw"),
        total_good_count=total("good_count"),
        total_bad_count=total("bad_count"),
        fault_count=sum(a.faults for a in aggs),
        total_points=sum(a.count for a in aggs),
    )


async def kpis(store: Store, tenant: str, plant: str, minutes: int) -> PlantKpis:
    """The plant's KPIs over the last ``minutes``.

    Raises:
        StoreUnavailableError: the store cannot answer now.
    """
    now = datetime.now(UTC)
    start_ms = int(now.timestamp() * 1000) - minutes * 60_000
    aggs = await store.aggregates(tenant, plant, start_ms)
    by_line: dict[str, dict[str, list[MetricAggregate]]] = {}
    for a in aggs:
        by_line.setdefault(a.line, {}).setdefault(a.machine, []).append(a)
    lines = {
        line: LineKpi(
            **_kpi([a for m in machines.values() for a in m]).model_dump(),
            machines={machine: _kpi(m) for machine, m in sorted(machines.items())},
        )
        for line, machines in sorted(by_line.items())
    }
    return PlantKpis(
        tenant=tenant,
        plant=plant,
        period_minutes=minutes,
        **_kpi(aggs).model_dump(),
        timestamp=format_ts(now),
        lines=lines,
    )


def fault_states(link: PlantLink, tenant: str, plant: str) -> dict[FaultCmd, bool | None]:
    """Applied faults as reported: the simulator's own, and the edges' uplinks for the outage
    (None: not reported yet)."""
    sim = link.status(tenant, plant, SIM_STATUS) or {}
    applied = sim.get("faults", {})
    cut = [s.get("uplink") == "cut" for s in link.edge_statuses(tenant, plant)]
    return {
        "bearing_fault": applied.get("bearing_fault"),
        "energy_spike": applied.get("energy_spike"),
        "network_outage": any(cut) if cut else None,
    }


def stopped_machines(link: PlantLink, tenant: str, plant: str) -> set[str]:
    """``line/machine`` of the machines an operator stopped, as the simulator reports."""
    sim = link.status(tenant, plant, SIM_STATUS) or {}
    return {str(m) for m in sim.get("stopped", [])}


# -- routes --
router = APIRouter(prefix="/api/v1")


@router.get(
    "/kpis",
    tags=["query"],
    summary="Plant KPIs over the last N minutes, with a breakdown per line and machine",
)
async def get_kpis(
    services: ServicesDep,
    caller: CallerDep,
    tenant: NameQuery = "acme",
    plant: NameQuery = "plant-01",
    minutes: Annotated[int, Query(ge=1, le=1440)] = 5,
) -> PlantKpis:
    if not caller.may_see(tenant) or not caller.may_see_type(MACHINE.name):
        raise HTTPException(404, "no such tenant")
    return await kpis(services.store, tenant, plant, minutes)


@router.post(
    "/faults/{cmd}",
    tags=["commands"],
    summary="Switch a simulated fault on or off",
    responses={
        403: {"description": "the caller is not an operator"},
        404: {"description": "no such tenant (or not one of the caller's)"},
        503: {"description": "the plant's MQTT broker is not reachable; nothing was sent"},
    },
)
async def post_fault(
    cmd: FaultCmd,
    link: PlantLinkDep,
    caller: OperatorDep,
    auth: AuthDep,
    value: bool = True,
    tenant: NameQuery = "acme",
    plant: NameQuery = "plant-01",
) -> FaultSent:
    if not caller.may_see(tenant):
        raise HTTPException(404, "no such tenant")
    topic = command_topic(tenant, plant)
    payload = FaultPayload(cmd=cmd, value=value)
    sent = link.publish(topic, payload.model_dump())
    auth.audit(
        caller, "fault", f"{plant}:{cmd}={'on' if value else 'off'}",
        "sent" if sent else "broker unreachable", tenant=tenant,
    )  # fmt: skip
    if not sent:
        raise HTTPException(503, "the plant's MQTT broker is not reachable; command not sent")
    return FaultSent(published=True, topic=topic, payload=payload)


@router.get("/faults", tags=["commands"], summary="Fault states as the devices report them")
async def get_faults(
    link: PlantLinkDep,
    caller: CallerDep,
    tenant: NameQuery = "acme",
    plant: NameQuery = "plant-01",
) -> FaultStates:
    if not caller.may_see(tenant) or not caller.may_see_type(MACHINE.name):
        raise HTTPException(404, "no such tenant")
    return FaultStates(tenant=tenant, plant=plant, faults=fault_states(link, tenant, plant))


def cloud_part() -> CloudPart:
    """The factory's contribution to the cloud app (``Pack.cloud``)."""
    return CloudPart(routers=(router,))
