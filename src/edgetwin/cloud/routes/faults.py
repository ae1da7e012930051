"""``POST /api/v1/faults/{cmd}``: publishes a fault command to the plant, as an operator would
with ``mosquitto_pub`` (the reference's endpoint only echoed it)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException

from edgetwin.cloud.deps import CallerDep, PlantLinkDep
from edgetwin.core.topics import command_topic

router = APIRouter(prefix="/api/v1", tags=["commands"])

FaultCmd = Literal["bearing_fault", "energy_spike", "network_outage"]


@router.post("/faults/{cmd}", summary="Switch a simulated fault on or off")
async def fault(
    cmd: FaultCmd,
    link: PlantLinkDep,
    caller: CallerDep,
    value: bool = True,
    tenant: str = "acme",
    plant: str = "plant-01",
) -> dict[str, Any]:
    if caller.role not in ("operator", "admin"):
        raise HTTPException(403, "commands need the operator role")
    topic = command_topic(tenant, plant)
    payload = {"cmd": cmd, "value": value}
    if not link.publish(topic, payload):
        raise HTTPException(503, "the plant's MQTT broker is not reachable; command not sent")
    return {"published": True, "topic": topic, "payload": payload}


@router.get("/faults", summary="Fault states as the devices report them")
async def faults(
    link: PlantLinkDep, tenant: str = "acme", plant: str = "plant-01"
) -> dict[str, Any]:
    return {"tenant": tenant, "plant": plant, "faults": link.faults(tenant, plant)}
