"""The dashboard: NiceGUI pages served by the cloud app. No business logic: it calls services.

It imports no pack: :mod:`edgetwin.compose` gives :func:`mount` the enabled packs' pages, and the
navigation is built from them.
"""

from __future__ import annotations

from collections.abc import Sequence

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

    from edgetwin.dashboard.overview import OVERVIEW

    every = (OVERVIEW, *pages)
    paths = [p.path for p in every]
    duplicates = sorted({p for p in paths if paths.count(p) > 1})
    if duplicates:
        raise ValueError(f"several dashboard pages at {', '.join(duplicates)}")
    context.bind(services=services, link=link, settings=settings, pages=every)
    for spec in every:
        ui.page(spec.path)(spec.render)
    ui.run_with(
        app,
        title="edgetwin",
        favicon="🏭",
        show_welcome_message=False,
        reconnect_timeout=10.0,
    )


__all__ = ["PageSpec", "mount"]
