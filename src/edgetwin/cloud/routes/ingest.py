"""``POST /api/v1/ingest``: one reading or a list; idempotent on the reading's id."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from starlette.requests import ClientDisconnect

from edgetwin.cloud.deps import IngestCallerDep, ServicesDep, SettingsDep
from edgetwin.cloud.schemas.ingest import IngestCounts
from edgetwin.core.errors import WireFormatError
from edgetwin.core.point import parse_points
from edgetwin.core.topics import RESERVED_METRIC

router = APIRouter(prefix="/api/v1", tags=["ingest"])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Reading"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Reading"}},
                    ]
                }
            }
        },
    }
}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            413, f"request body over the limit of {limit} bytes; send smaller batches"
        )
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(
                    413, f"request body over the limit of {limit} bytes; send smaller batches"
                )
            chunks.append(chunk)
    except ClientDisconnect as exc:
        # An edge stopped or killed while sending: nothing was stored, it sends the batch again.
        raise HTTPException(400, "the client went away before its whole body arrived") from exc
    return b"".join(chunks)


@router.post("/ingest", openapi_extra=_BODY_DOC, summary="Store readings exactly once")
async def ingest(
    request: Request,
    services: ServicesDep,
    settings: SettingsDep,
    caller: IngestCallerDep,
    historical: bool = Query(
        False, description="backfill after an outage: never replaces current values"
    ),
) -> IngestCounts:
    """Answers 200 with counts once the store committed; 422 naming each bad item (and storing
    none of the request); 413 above the size limit; 503 when the store is unavailable."""
    body = await _read_body(request, settings.max_request_bytes)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        await services.reject(1)
        raise HTTPException(422, {"message": f"body is not JSON: {exc}", "problems": []}) from exc
    items = data if isinstance(data, list) else [data]
    try:
        points = parse_points(items)
    except WireFormatError as exc:
        await services.reject(len(exc.problems))
        raise HTTPException(
            422,
            {
                "message": f"{len(exc.problems)} of {len(items)} reading(s) malformed; none stored",
                "problems": exc.problems,
            },
        ) from exc
    reserved = [
        {"index": i, "errors": [f"metric: {RESERVED_METRIC!r} is reserved (a device's command"
         " topic ends in it) and cannot be a metric"]}
        for i, p in enumerate(points) if p.metric == RESERVED_METRIC
    ]  # fmt: skip
    if reserved:
        await services.reject(len(reserved))
        raise HTTPException(
            422,
            {
                "message": f"{len(reserved)} of {len(items)} reading(s) malformed; none stored",
                "problems": reserved,
            },
        )
    denied = sorted(
        {f"{p.tenant}/{p.plant}" for p in points if not caller.may_see_plant(p.tenant, p.plant)}
    )
    if denied:
        await services.reject(len(points))
        raise HTTPException(403, f"{caller.name} may not write {', '.join(denied)}; none stored")
    edge = request.headers.get("x-edgetwin-edge")
    if edge:
        services.edges.from_headers(
            edge,
            request.headers.get("x-edgetwin-buffer-depth"),
            request.headers.get("x-edgetwin-buffer-oldest-age-s"),
            broker_link=request.headers.get("x-edgetwin-broker-link"),
            tenant=points[0].tenant if points else None,
            plant=points[0].plant if points else None,
        )
    result = await services.ingest(points, historical=historical)
    return IngestCounts(accepted=result.accepted, duplicate=result.duplicate)
