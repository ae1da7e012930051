"""``GET /health``, ``GET /metrics``, ``GET /api/v1/stats``, ``GET /api/v1/devices``.

The services return plain dicts; ``response_model`` checks and documents their shapes
(:mod:`edgetwin.cloud.schemas.status`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edgetwin import __version__
from edgetwin.cloud.deps import CallerDep, PlantLinkDep, ServicesDep
from edgetwin.cloud.schemas.status import Device, Health, Stats

router = APIRouter(tags=["status"])


@router.get("/health", summary="Liveness and the state of the store and the broker link")
async def health(services: ServicesDep, link: PlantLinkDep) -> Health:
    return Health(
        version=__version__,
        store=services.store.describe()["kind"],
        mqtt_connected=link.connected,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(services: ServicesDep) -> PlainTextResponse:
    body = generate_latest(services.metrics.registry)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/api/v1/stats",
    response_model=Stats,
    summary="Stored, duplicate and rejected counts; edges' buffers; ingest rate",
)
async def stats(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return await services.stats()


@router.get(
    "/api/v1/devices",
    response_model=list[Device],
    summary="Machines with their newest values and whether they are online",
)
async def devices(
    services: ServicesDep, caller: CallerDep, tenant: str = "acme", plant: str | None = None
) -> list[dict[str, Any]]:
    if not caller.may_see(tenant):
        raise HTTPException(404, "no such tenant")
    return await services.devices(tenant, plant)
