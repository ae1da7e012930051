"""The cloud app factory: FastAPI with the API routes and the NiceGUI dashboard on one server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from edgetwin import __version__
from edgetwin.cloud.command_log import command_log_for
from edgetwin.cloud.commands import CommandService
from edgetwin.cloud.edges import EdgeRegistry
from edgetwin.cloud.live import LiveHub, bind_dashboard, wire_live
from edgetwin.cloud.plant_link import PlantLink
from edgetwin.cloud.routes import commands as commands_routes
from edgetwin.cloud.routes import faults, ingest, query, status
from edgetwin.cloud.routes import live as live_routes
from edgetwin.cloud.services import Services
from edgetwin.cloud.store import open_store
from edgetwin.core.errors import StoreUnavailableError
from edgetwin.core.point import Point
from edgetwin.core.settings import Settings

log = logging.getLogger("edgetwin.cloud")


def create_app(settings: Settings, *, dashboard: bool = True) -> FastAPI:
    store = open_store(settings.store_url, settings)
    edges = EdgeRegistry()
    services = Services(store=store, edges=edges, started=time.time())
    link = PlantLink(settings, edges)
    # -- device commands and live fan-out --
    hub = LiveHub()
    command_log = command_log_for(settings.store_url, settings.data_dir)
    commands = CommandService(command_log, link.publish_info, hub, lambda: link.connected)
    wire_live(hub, services, link, commands)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await store.start()
        command_log.open()
        link.start()
        sampler = asyncio.create_task(_sample(services), name="rate-sampler")
        dispatcher = asyncio.create_task(commands.run(), name="commands")
        log.info("cloud ready: store %s", store.describe())
        try:
            yield
        finally:
            sampler.cancel()
            dispatcher.cancel()
            link.stop()
            command_log.close()
            await store.close()

    app = FastAPI(
        title="edgetwin",
        version=__version__,
        summary="Industrial IoT digital twins, edge to cloud",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.plant_link = link
    app.state.live = hub
    app.state.commands = commands
    for router in (
        status.router, ingest.router, query.router, faults.router,
        commands_routes.router, live_routes.router,
    ):  # fmt: skip
        app.include_router(router)

    @app.exception_handler(StoreUnavailableError)
    async def _store_down(_request: Request, exc: StoreUnavailableError) -> JSONResponse:
        services.metrics.unavailable.inc()
        return JSONResponse({"detail": f"store unavailable, retry later: {exc}"}, status_code=503)

    _add_reading_schema(app)
    if dashboard:
        from edgetwin.dashboard import mount

        mount(app, services=services, link=link, settings=settings)
        bind_dashboard(hub, commands)
    return app


async def _sample(services: Services) -> None:
    while True:
        services.sample_rate()
        await asyncio.sleep(1.0)


def _add_reading_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            reading = Point.model_json_schema()
            reading["title"] = "Reading"
            schema.setdefault("components", {}).setdefault("schemas", {})["Reading"] = reading
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
