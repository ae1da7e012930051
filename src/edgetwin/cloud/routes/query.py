"""``GET /api/v1/series``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from edgetwin.cloud.deps import CallerDep, ServicesDep
from edgetwin.cloud.params import NameQuery, UtcTime
from edgetwin.cloud.schemas.series import Series
from edgetwin.cloud.store import SeriesKey

router = APIRouter(prefix="/api/v1", tags=["query"])

MAX_BUCKETS = 20_000


def _check_tenant(caller: CallerDep, tenant: str) -> None:
    if not caller.may_see(tenant):
        raise HTTPException(404, "no such tenant")


@router.get(
    "/series", response_model=Series, summary="A series in time buckets (avg, min, max, count)"
)
async def series(
    services: ServicesDep,
    caller: CallerDep,
    line: NameQuery,
    machine: NameQuery,
    metric: NameQuery,
    tenant: NameQuery = "acme",
    plant: NameQuery = "plant-01",
    minutes: Annotated[int | None, Query(ge=1, le=60 * 24 * 31)] = None,
    start: Annotated[UtcTime | None, Query(description="ISO 8601; without an offset, UTC")] = None,
    end: Annotated[
        UtcTime | None, Query(description="ISO 8601; without an offset, UTC; default: now")
    ] = None,
    bucket_seconds: Annotated[int, Query(ge=1, le=86_400)] = 60,
) -> dict[str, Any]:
    _check_tenant(caller, tenant)
    now = datetime.now(UTC)
    if minutes is not None and start is not None:
        raise HTTPException(422, "give either minutes or start/end, not both")
    end_ = end or now
    start_ = start or end_ - timedelta(minutes=minutes or 60)
    if start_ >= end_:
        raise HTTPException(422, "start must be before end")
    if (end_ - start_).total_seconds() / bucket_seconds > MAX_BUCKETS:
        raise HTTPException(422, f"more than {MAX_BUCKETS} buckets; raise bucket_seconds")
    if caller.device_types and not caller.may_see_type(
        await services.device_type_at(tenant, plant, line, machine)
    ):
        raise HTTPException(404, "no such series")
    key = SeriesKey(tenant, plant, line, machine, metric)
    return await services.series(key, start_, end_, bucket_seconds)
