"""The cloud app factory: the FastAPI service (ingest, queries, commands, live fan-out).

It knows no pack and no dashboard: :mod:`edgetwin.compose` gives it the enabled packs' device
types and cloud parts, and mounts the dashboard on the app it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from edgetwin import __version__
from edgetwin.cloud.auth import Authenticator
from edgetwin.cloud.commands import CommandService, command_log_for
from edgetwin.cloud.deps import mark_access
from edgetwin.cloud.edges import EdgeRegistry
from edgetwin.cloud.live import LiveHub, wire_live
from edgetwin.cloud.packs import CloudPart
from edgetwin.cloud.plant_link import PlantLink
from edgetwin.cloud.routes import admin as admin_routes
from edgetwin.cloud.routes import applications as applications_routes
from edgetwin.cloud.routes import auth as auth_routes
from edgetwin.cloud.routes import commands as commands_routes
from edgetwin.cloud.routes import device_types as device_types_routes
from edgetwin.cloud.routes import ingest, query, status
from edgetwin.cloud.routes import live as live_routes
from edgetwin.cloud.services import Services, enum_labels
from edgetwin.cloud.store import open_store
from edgetwin.core.device import DeviceType, fault_rules
from edgetwin.core.errors import ConfigError, StoreUnavailableError
from edgetwin.core.point import Point
from edgetwin.core.settings import Settings
from edgetwin.security import IdentityStore

log = logging.getLogger("edgetwin.cloud")


def create_app(
    settings: Settings,
    *,
    device_types: Sequence[DeviceType] = (),
    parts: Sequence[CloudPart] = (),
) -> FastAPI:
    """The cloud service for ``settings``; nothing is connected until the app starts.

    Args:
        device_types: of the enabled packs: served by ``/api/v1/device-types``, and their fault
            states are what the store counts as faults.
        parts: the enabled packs' cloud parts (routers, lifespans).

    Raises:
        ConfigError: an unsupported store URL, or device types that disagree on a metric's
            fault states.
    """
    types = tuple(device_types)
    try:
        rules = fault_rules(types)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    store = open_store(settings.store_url, settings, fault_rules=rules)
    edges = EdgeRegistry()
    services = Services(store=store, edges=edges, started=time.time())
    services.labels = enum_labels(types)
    services.types = types
    link = PlantLink(settings, edges)
    # -- device commands and live fan-out --
    hub = LiveHub()
    command_log = command_log_for(settings.store_url, settings.data_dir)
    commands = CommandService(
        command_log, link.publish_info, hub, lambda: link.connected, loops=services.loops
    )
    wire_live(hub, services, link, commands)
    auth = Authenticator(
        IdentityStore(settings.data_dir, settings.identities_file),
        rate=settings.rate_limit_per_s,
        burst=settings.rate_limit_burst,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        auth.open()
        await store.start()
        command_log.open()
        await link.start()
        services.loops.start("rate-sampler", lambda: _sample(services))
        services.loops.start("commands", commands.run)
        log.info("cloud ready: store %s", store.describe())
        try:
            async with contextlib.AsyncExitStack() as pack_work:
                for part in parts:
                    for lifespan in part.lifespans:
                        await pack_work.enter_async_context(lifespan(_app))
                yield
        finally:
            await services.loops.stop()
            await link.stop()
            command_log.close()
            await store.close()
            auth.close()

    app = FastAPI(
        title="edgetwin",
        version=__version__,
        summary="Industrial IoT digital twins, edge to cloud",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.plant_link = link
    app.state.auth = auth
    app.state.live = hub
    app.state.commands = commands
    app.state.device_types = types
    for router in (
        status.router, ingest.router, query.router, device_types_routes.router,
        commands_routes.router, live_routes.router, auth_routes.router, admin_routes.router,
        applications_routes.router,
        *(r for part in parts for r in part.routers),
    ):  # fmt: skip
        app.include_router(router)

    @app.exception_handler(StoreUnavailableError)
    async def _store_down(_request: Request, exc: StoreUnavailableError) -> JSONResponse:
        services.metrics.unavailable.inc()
        return JSONResponse({"detail": f"store unavailable, retry later: {exc}"}, status_code=503)

    mark_access(app)  # every router (packs' too) is in; before any request copies the routes
    _add_reading_schema(app)
    return app


async def _sample(services: Services) -> None:
    while True:
        try:
            services.sample_rate()
        except Exception as exc:  # noqa: BLE001 - one bad sample must not end the sampling
            services.loops.failed("rate-sampler", "a sample", exc)
        await asyncio.sleep(1.0)


def _add_reading_schema(app: FastAPI) -> None:
    """Complete the generated OpenAPI: the ``Reading`` model (ingest takes it raw, for speed),
    and 422's ``detail`` as it really is: FastAPI's list of field errors, or our own message
    (a string, or ingest's ``{message, problems}`` naming each bad reading)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            reading = Point.model_json_schema()
            reading["title"] = "Reading"
            components["Reading"] = reading
            invalid = components.get("HTTPValidationError")
            if invalid is not None:
                listed = invalid["properties"]["detail"]
                invalid["properties"]["detail"] = {
                    "title": "Detail",
                    "anyOf": [
                        {k: v for k, v in listed.items() if k != "title"},
                        {"type": "string"},
                        {
                            "type": "object",
                            "properties": {
                                "message": {"type": "string"},
                                "problems": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    ],
                }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
