"""The one module that puts the cloud, the dashboard and the packs together.

``cloud/`` knows no pack and no dashboard, the dashboard knows no pack, and packs reach both
through their ``Pack`` entry only; this module reads the enabled packs (``settings.packs``) and
hands each layer what it needs::

    packs ──device types, cloud parts──> cloud.app.create_app ──app──> dashboard.mount <──pages── packs

Adding a pack touches nothing here: its registration line in :mod:`edgetwin.packs` is enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from fastapi import FastAPI

from edgetwin.cloud.app import create_app
from edgetwin.cloud.live import bind_dashboard
from edgetwin.cloud.packs import CloudPart
from edgetwin.core.device import DeviceType
from edgetwin.core.errors import ConfigError
from edgetwin.core.settings import Settings
from edgetwin.dashboard.pages import PageSpec
from edgetwin.packs import Pack, load_entry, load_pack

T = TypeVar("T")


@dataclass(frozen=True)
class Composition:
    """What the enabled packs contribute, loaded."""

    packs: tuple[Pack, ...]
    device_types: tuple[DeviceType, ...]
    cloud_parts: tuple[CloudPart, ...]

    def pages(self) -> list[PageSpec]:
        """The packs' dashboard pages, in the packs' order (imports the web UI)."""
        out: list[PageSpec] = []
        for pack in self.packs:
            if pack.pages is not None:
                specs = load_entry(pack.pages)()
                out += _checked(pack, specs, PageSpec, "pages")
        return out


def load(names: Sequence[str]) -> Composition:
    """Load the packs ``names`` and their cloud parts.

    Raises:
        ConfigError: an unknown pack, or a pack whose entry returns something else than the
            platform expects.
    """
    try:
        packs = tuple(load_pack(n) for n in names)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc
    parts = []
    for pack in packs:
        if pack.cloud is not None:
            part = load_entry(pack.cloud)()
            parts += _checked(pack, [part], CloudPart, "cloud")
    types = tuple(t for p in packs for t in p.device_types)
    return Composition(packs, types, tuple(parts))


def build_app(settings: Settings, *, dashboard: bool = True) -> FastAPI:
    """The cloud app with the enabled packs' routes and, if ``dashboard``, the dashboard and
    the packs' pages on the same server.

    Raises:
        ConfigError: see :func:`load` and :func:`edgetwin.cloud.app.create_app`.
    """
    composition = load(settings.packs)
    app = create_app(settings, device_types=composition.device_types, parts=composition.cloud_parts)
    if dashboard:
        from edgetwin.dashboard import mount

        mount(
            app,
            services=app.state.services,
            link=app.state.plant_link,
            settings=settings,
            pages=composition.pages(),
        )
        bind_dashboard(app.state.live, app.state.commands)
    return app


def _checked(pack: Pack, items: Sequence[object], kind: type[T], entry: str) -> list[T]:
    bad = [x for x in items if not isinstance(x, kind)]
    if bad:
        raise ConfigError(
            f"pack {pack.name!r}: its {entry} entry gave {type(bad[0]).__name__},"
            f" not {kind.__name__}"
        )
    return [x for x in items if isinstance(x, kind)]
