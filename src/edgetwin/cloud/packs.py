"""What a pack adds to the cloud: its :class:`CloudPart`.

A pack's ``Pack.cloud`` names a function (``"module:function"``, loaded lazily by the composing
module) that takes no argument and returns a :class:`CloudPart`. The cloud app includes its
routers and runs its lifespans inside its own, after the store has started. The pack's routes
reach the platform through the dependencies of :mod:`edgetwin.cloud.deps` (services, the plant
link, settings, the caller), as the platform's own routes do; the cloud never imports a pack.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
"""Entered once the cloud's store, command log and plant link are up, left before they stop;
``app.state`` holds ``settings``, ``services``, ``plant_link``, ``live`` and ``commands``."""


@dataclass(frozen=True)
class CloudPart:
    """A pack's contribution to the cloud app.

    Attributes:
        routers: included in the app as they are (give them their own ``prefix`` and ``tags``).
        lifespans: the pack's own background work (start on enter, stop on exit).
    """

    routers: tuple[APIRouter, ...] = ()
    lifespans: tuple[Lifespan, ...] = ()
