"""``GET /health``, ``GET /metrics``, ``GET /api/v1/stats``, ``GET /api/v1/devices``.

The services return plain dicts; ``response_model`` checks and documents their shapes
(:mod:`edgetwin.cloud.schemas.status`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edgetwin import __version__
from edgetwin.cloud.deps import (
    ACCESS_KEY,
    CallerDep,
    PlantLinkDep,
    ServicesDep,
    SettingsDep,
    authenticate,
)
from edgetwin.cloud.params import DeviceIdPath, NameQuery, parse_device_id
from edgetwin.cloud.schemas.status import Device, Health, LoopHealth, Stats
from edgetwin.core.net import is_loopback_host
from edgetwin.core.security import Role

router = APIRouter(tags=["status"])


@router.get(
    "/health",
    summary="Liveness and the state of the store and the broker link",
    openapi_extra={ACCESS_KEY: "public"},
)
async def health(services: ServicesDep, link: PlantLinkDep) -> Health:
    loops = services.loops
    return Health(
        status="ok" if loops.healthy else "degraded",
        version=__version__,
        store=services.store.describe()["kind"],
        mqtt_connected=link.connected,
        loops={name: LoopHealth(**state) for name, state in loops.report().items()},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (open when the cloud listens on loopback only; else admin)",
    response_class=PlainTextResponse,
    openapi_extra={ACCESS_KEY: "public on loopback, else admin"},
)
async def metrics(
    request: Request, services: ServicesDep, settings: SettingsDep
) -> PlainTextResponse:
    if not is_loopback_host(settings.http_host):
        caller = authenticate(request)
        if not caller.at_least(Role.ADMIN) or caller.scoped:
            raise HTTPException(403, "metrics need the admin role when not bound to loopback")
    body = generate_latest(services.metrics.registry)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/api/v1/stats",
    response_model=Stats,
    summary="Stored, duplicate and rejected counts; edges' buffers; ingest rate",
)
async def stats(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Counts are the store's totals; edges and alerts only of the caller's tenants (none for an
    application's key: edges are no device type)."""
    if caller.device_types:
        return await services.stats(lambda _tenant: False)
    return await services.stats(caller.may_see)


@router.get(
    "/api/v1/devices",
    response_model=list[Device],
    summary="Machines with their newest values and whether they are online",
)
async def devices(
    services: ServicesDep,
    caller: CallerDep,
    tenant: NameQuery = "acme",
    plant: NameQuery | None = None,
) -> list[dict[str, Any]]:
    if not caller.may_see(tenant):
        raise HTTPException(404, "no such tenant")
    found = await services.devices(tenant, plant)
    return [d for d in found if caller.may_see_type(d["device_type"])]


@router.get(
    "/api/v1/devices/{device}",
    response_model=Device,
    responses={404: {"description": "no such device"}},
    summary="One machine with its newest values (the id as GET /api/v1/devices lists it)",
)
async def device(
    device: DeviceIdPath,
    services: ServicesDep,
    settings: SettingsDep,
    caller: CallerDep,
    tenant: NameQuery = "acme",
    plant: NameQuery | None = None,
) -> dict[str, Any]:
    if not caller.may_see(tenant):
        raise HTTPException(404, "no such tenant")
    id_plant, line, machine = parse_device_id(device)
    if id_plant is not None and plant is not None and id_plant != plant:
        raise HTTPException(422, f"the id names plant {id_plant!r}, the query {plant!r}")
    found = [
        d
        for d in await services.devices(tenant, id_plant or plant or settings.plant)
        if d["machine"] == machine
        and line in (None, d["line"])
        and caller.may_see_type(d["device_type"])
    ]
    if len(found) > 1:
        ids = ", ".join(d["id"] for d in found)
        raise HTTPException(409, f"{machine!r} is on several lines; use one of the ids {ids}")
    if not found:
        raise HTTPException(404, f"no device {device!r} in tenant {tenant!r}")
    return found[0]
