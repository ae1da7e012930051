"""The twins edgetwin ships. Each pack is one self-contained folder; registration is explicit."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from edgetwin.core.settings import Settings


@dataclass(frozen=True)
class Pack:
    """What a pack contributes: a simulator process and a dashboard page."""

    name: str
    title: str
    simulate: Callable[[Settings], Coroutine[Any, Any, None]]
    page: Callable[[Any], None] | None = None


# name -> module exposing ``PACK``; one line per pack.
REGISTRY: dict[str, str] = {
    "factory": "edgetwin.packs.factory",
    "motor": "edgetwin.packs.motor",
}


def load_pack(name: str) -> Pack:
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown pack {name!r}; known packs: {known}")
    pack: Pack = importlib.import_module(REGISTRY[name]).PACK
    return pack
