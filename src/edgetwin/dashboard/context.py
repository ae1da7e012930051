"""The services the pages read from, bound once by :func:`edgetwin.dashboard.mount`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgetwin.cloud.auth import Authenticator
from edgetwin.cloud.plant_link import PlantLink
from edgetwin.cloud.services import Services
from edgetwin.core.settings import Settings
from edgetwin.dashboard.pages import PageSpec


@dataclass
class Context:
    services: Services
    link: PlantLink
    settings: Settings
    auth: Authenticator  # sessions and the audit log
    pages: tuple[PageSpec, ...] = ()  # in the navigation's order


_ctx: Context | None = None


def bind(
    *,
    services: Services,
    link: PlantLink,
    settings: Settings,
    auth: Authenticator,
    pages: Sequence[PageSpec] = (),
) -> None:
    global _ctx
    _ctx = Context(services, link, settings, auth, tuple(pages))


def get() -> Context:
    if _ctx is None:
        raise RuntimeError("dashboard is not mounted")
    return _ctx
