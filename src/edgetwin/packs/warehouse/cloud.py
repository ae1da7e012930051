"""The warehouse's cloud part: its relational state kept current, and ``/api/v1/warehouse/...``.

Reads (any authenticated caller of the tenant): ``inventory``, ``components`` (the 14 spec
sheets), ``hardware`` (PackML state, e-stop, axes, power, every powered component's current,
health and time to failure), ``alerts``, ``orders``, ``analytics`` and its CSV ``export``.
Orders (``orders/store``, ``orders/retrieve``, ``orders/process``) and maintenance
(``maintenance/initialize``, ``reset``, ``emergency-stop``, ``replace-motor``) are operators'
and admins': each sends the controller's device command through the platform's command service
and answers its record (201), whose lifecycle ``GET /api/v1/devices/warehouse/commands/{id}``
follows; each is audited. The emergency stop is also published straight to the controller's
``.../cmd/estop`` topic (no queue, no edge hop), with who pressed it.

A tenant the caller may not see answers 404, before the request's body is looked at.

The state follows the device's retained snapshot (``v1/{tenant}/{plant}/status/warehouse``),
which the cloud's plant link keeps: every :data:`.service.SYNC_S` the newest one of each plant is
applied to the tables (:meth:`.store.WarehouseStore.apply`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from edgetwin.cloud.auth import Authenticator
from edgetwin.cloud.commands import CommandService
from edgetwin.cloud.deps import AuthDep, CallerDep, OperatorDep, PlantLinkDep, SettingsDep
from edgetwin.cloud.packs import CloudPart
from edgetwin.cloud.params import NameQuery, UtcTime
from edgetwin.cloud.schemas.commands import CommandRecord
from edgetwin.core.security import Caller
from edgetwin.packs.warehouse import reads, service
from edgetwin.packs.warehouse.analytics import (
    ExportTable,
    RangeName,
    analytics,
    export_rows,
    window,
)
from edgetwin.packs.warehouse.device_types import CONTROLLER_TYPE
from edgetwin.packs.warehouse.schemas import (
    AlertOut,
    Analytics,
    ComponentSpecOut,
    HardwareStates,
    Inventory,
    OrderOut,
    ReplaceMotor,
    SlotOrder,
    StoreOrder,
)
from edgetwin.packs.warehouse.store import WarehouseStore, url_for

log = logging.getLogger("edgetwin.packs.warehouse.cloud")


# -- who may, for which plant --
@dataclass(frozen=True)
class Scope:
    caller: Caller
    tenant: str
    plant: str


def _seen(caller: Caller, tenant: str, plant: str | None, default_plant: str) -> Scope:
    if not caller.may_see(tenant) or not caller.may_see_type(CONTROLLER_TYPE.name):
        raise HTTPException(404, "no such tenant")
    return Scope(caller, tenant, plant or default_plant)


def _viewer(
    caller: CallerDep,
    settings: SettingsDep,
    tenant: NameQuery = "acme",
    plant: NameQuery | None = None,
) -> Scope:
    return _seen(caller, tenant, plant, settings.plant)


def _operator(
    caller: OperatorDep,
    settings: SettingsDep,
    tenant: NameQuery = "acme",
    plant: NameQuery | None = None,
) -> Scope:
    return _seen(caller, tenant, plant, settings.plant)


ViewerScope = Annotated[Scope, Depends(_viewer)]
OperatorScope = Annotated[Scope, Depends(_operator)]


def _store(request: Request) -> WarehouseStore:
    store: WarehouseStore | None = getattr(request.app.state, "warehouse", None)
    if store is None:
        raise HTTPException(503, "the warehouse's store is not open yet; retry")
    return store


StoreDep = Annotated[WarehouseStore, Depends(_store)]


def _commands(request: Request) -> CommandService:
    service: CommandService = request.app.state.commands
    return service


_SENT: Final[dict[int | str, dict[str, Any]]] = {
    403: {"description": "the caller is not an operator"},
    404: {"description": "no such tenant (or not one of the caller's)"},
}

router = APIRouter(prefix="/api/v1/warehouse", tags=["warehouse"])


@router.get(
    "/inventory", summary="The rack: each slot's carrier and cookie, and cookies in transit"
)
async def get_inventory(scope: ViewerScope, store: StoreDep) -> Inventory:
    return await asyncio.to_thread(reads.inventory, store, scope.tenant, scope.plant)


@router.get("/components", summary="The 14 components' spec sheets")
async def get_components(scope: ViewerScope) -> list[ComponentSpecOut]:
    return reads.specs()


@router.get("/hardware", summary="PackML state, e-stop, axes, power, each motor's health and TTF")
async def get_hardware(scope: ViewerScope, store: StoreDep) -> HardwareStates:
    return await asyncio.to_thread(reads.hardware, store, scope.tenant, scope.plant)


@router.get("/alerts", summary="Predictive-maintenance and e-stop alerts, newest first")
async def get_alerts(
    scope: ViewerScope,
    store: StoreDep,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertOut]:
    return await asyncio.to_thread(
        lambda: reads.alerts(store, scope.tenant, scope.plant, open_only=open_only, limit=limit)
    )


@router.get("/orders", summary="Orders, newest first")
async def get_orders(
    scope: ViewerScope, store: StoreDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[OrderOut]:
    return await asyncio.to_thread(
        lambda: reads.orders(store, scope.tenant, scope.plant, limit=limit)
    )


def _range(
    name: RangeName, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime, int]:
    try:
        return window(name, start, end)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get(
    "/analytics",
    summary="Energy, throughput, utilisation and anomalies over 24 h, 7 d, 30 d or a range",
)
async def get_analytics(
    scope: ViewerScope,
    store: StoreDep,
    range: RangeName = "24h",
    start: UtcTime | None = None,
    end: UtcTime | None = None,
) -> Analytics:
    s, e, bucket = _range(range, start, end)
    return await asyncio.to_thread(analytics, store, scope.tenant, scope.plant, s, e, bucket)


@router.get(
    "/export",
    summary="A table's rows in a range as CSV, streamed",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_export(
    scope: ViewerScope,
    store: StoreDep,
    table: ExportTable = "energy",
    range: RangeName = "24h",
    start: UtcTime | None = None,
    end: UtcTime | None = None,
) -> StreamingResponse:
    s, e, _ = _range(range, start, end)
    rows = export_rows(store, table, scope.tenant, scope.plant, s, e)
    name = f"warehouse-{table}-{s:%Y%m%d%H%M}-{e:%Y%m%d%H%M}.csv"
    return StreamingResponse(
        rows,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _sent(summary: str) -> dict[str, Any]:
    return {
        "status_code": 201,
        "response_model": CommandRecord,
        "responses": _SENT,
        "summary": summary,
    }


def _send(
    request: Request,
    auth: Authenticator,
    scope: Scope,
    store: WarehouseStore,
    name: str,
    args: dict[str, Any],
) -> dict[str, Any]:
    return service.send(
        _commands(request), store, auth, scope.caller, scope.tenant, scope.plant, name, args
    )


@router.post("/orders/store", **_sent("Order: store a raw cookie from the intake into a slot"))
async def post_store(
    body: StoreOrder, scope: OperatorScope, store: StoreDep, request: Request, auth: AuthDep
) -> dict[str, Any]:
    return _send(request, auth, scope, store, "STORE", body.model_dump(exclude_none=True))


@router.post("/orders/retrieve", **_sent("Order: retrieve a slot's cookie and ship it"))
async def post_retrieve(
    body: SlotOrder, scope: OperatorScope, store: StoreDep, request: Request, auth: AuthDep
) -> dict[str, Any]:
    return _send(request, auth, scope, store, "SHIP", body.model_dump())


@router.post("/orders/process", **_sent("Order: bake, package and store back a raw cookie"))
async def post_process(
    body: SlotOrder, scope: OperatorScope, store: StoreDep, request: Request, auth: AuthDep
) -> dict[str, Any]:
    return _send(request, auth, scope, store, "PROCESS", body.model_dump())


@router.post("/maintenance/initialize", **_sent("Initialise: reset to Idle, carriers home"))
async def post_initialize(
    scope: OperatorScope, store: StoreDep, request: Request, auth: AuthDep
) -> dict[str, Any]:
    return _send(request, auth, scope, store, "INITIALISE", {})


@router.post("/maintenance/reset", **_sent("Clear a latched emergency stop and reset to Idle"))
async def post_reset(
    scope: OperatorScope, store: StoreDep, request: Request, auth: AuthDep
) -> dict[str, Any]:
    return _send(request, auth, scope, store, "RESET", {})


@router.post("/maintenance/replace-motor", **_sent("Fit a new motor: its health back to 1"))
async def post_replace_motor(
    body: ReplaceMotor, scope: OperatorScope, store: StoreDep, request: Request, auth: AuthDep
) -> dict[str, Any]:
    return _send(request, auth, scope, store, "REPLACE_MOTOR", body.model_dump())


@router.post("/maintenance/emergency-stop", **_sent("Emergency stop: every axis halts, latched"))
async def post_emergency_stop(
    scope: OperatorScope, store: StoreDep, request: Request, auth: AuthDep, link: PlantLinkDep
) -> dict[str, Any]:
    return service.emergency_stop(
        _commands(request), store, auth, link, scope.caller, scope.tenant, scope.plant
    )


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the store (migrating it), follow the snapshots; close on the way out."""
    store = WarehouseStore(url_for(app.state.settings))
    await asyncio.to_thread(store.open)
    if store.migrated:
        log.info("warehouse store migrated to version %d", store.migrated[-1])
    loops = app.state.services.loops
    loops.declare(service.SYNC_LOOP)
    app.state.warehouse = store
    service.activate(store, app.state.commands, app.state.plant_link, app.state.auth)
    task = asyncio.create_task(
        service.follow(app.state.plant_link, store, loops.failed), name=service.SYNC_LOOP
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        service.deactivate()
        app.state.warehouse = None
        store.close()


def cloud_part() -> CloudPart:
    """The warehouse's contribution to the cloud app (``Pack.cloud``)."""
    return CloudPart(routers=(router,), lifespans=(lifespan,))
