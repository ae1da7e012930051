"""The dashboard: NiceGUI pages served by the cloud app. No business logic: it calls services.

It imports no pack: :mod:`edgetwin.compose` gives :func:`mount` the enabled packs' pages, and the
navigation is built from them. Every page needs a session (:mod:`edgetwin.dashboard.access`):
each page is :func:`~edgetwin.dashboard.guard.guarded`, the login page is ``/login``
(:mod:`edgetwin.dashboard.login`), and the pages and their event
connection take only a browser with a valid session (:mod:`edgetwin.dashboard.gate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from edgetwin.cloud.plant_link import PlantLink
from edgetwin.cloud.services import Services
from edgetwin.core.settings import Settings
from edgetwin.dashboard import context
from edgetwin.dashboard.pages import PageSpec


def mount(
    app: FastAPI,
    *,
    services: Services,
    link: PlantLink,
    settings: Settings,
    pages: Sequence[PageSpec] = (),
) -> None:
    """Attach the dashboard to ``app``: the overview at ``/``, then ``pages`` in that order.

    Raises:
        ValueError: two pages share a path.
    """
    from nicegui import ui

    from edgetwin.dashboard.access import LOGIN_PATH
    from edgetwin.dashboard.gate import Gate
    from edgetwin.dashboard.guard import guarded
    from edgetwin.dashboard.login import add_login_route
    from edgetwin.dashboard.overview import OVERVIEW

    every = (OVERVIEW, *pages)
    paths = [p.path for p in every]
    duplicates = sorted({p for p in paths if paths.count(p) > 1 or p == LOGIN_PATH})
    if duplicates:
        raise ValueError(f"several dashboard pages at {', '.join(duplicates)}")
    context.bind(services=services, link=link, settings=settings, auth=app.state.auth, pages=every)
    add_login_route(app)  # before NiceGUI is mounted at /, which answers every other path
    app.add_middleware(Gate, pages=frozenset(paths))
    for spec in every:
        ui.page(spec.path)(guarded(spec.path, spec.render))
    ui.run_with(
        app,
        title="edgetwin",
        favicon="🏭",
        show_welcome_message=False,
        reconnect_timeout=10.0,
    )
    _json_404_under_api()


def _json_404_under_api() -> None:
    """The dashboard is mounted at ``/`` and answers every path no route took with its HTML
    404 page; under ``/api/`` a client expects JSON, as every API route answers it."""
    from fastapi.exception_handlers import http_exception_handler
    from nicegui import app as nicegui_app
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import Response

    page_404: Any = nicegui_app.exception_handlers[404]
    if getattr(page_404, "edgetwin_api_json", False):
        return  # mounted before, in this process (the dashboard's app is one per process)

    async def handler(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/") and isinstance(exc, HTTPException):
            return await http_exception_handler(request, exc)
        response: Response = await page_404(request, exc)
        return response

    handler.edgetwin_api_json = True  # type: ignore[attr-defined]
    nicegui_app.add_exception_handler(404, handler)


__all__ = ["PageSpec", "mount"]
