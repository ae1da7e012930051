"""The dashboard: NiceGUI pages served by the cloud app. No business logic: it calls services."""

from __future__ import annotations

from fastapi import FastAPI

from edgetwin.cloud.plant_link import PlantLink
from edgetwin.cloud.services import Services
from edgetwin.core.settings import Settings
from edgetwin.dashboard import context


def mount(app: FastAPI, *, services: Services, link: PlantLink, settings: Settings) -> None:
    """Attach the dashboard pages to ``app`` (at ``/``)."""
    from nicegui import ui

    from edgetwin.dashboard import pages  # noqa: F401 - registers the pages

    context.bind(services=services, link=link, settings=settings)
    ui.run_with(
        app,
        title="edgetwin",
        favicon="🏭",
        show_welcome_message=False,
        reconnect_timeout=10.0,
    )
