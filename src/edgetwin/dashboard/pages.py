"""Dashboard pages as data: what a pack's ``Pack.pages`` function returns.

A pack's ``Pack.pages`` names a function (``"module:function"``, loaded lazily by the composing
module) that takes no argument and returns a sequence of :class:`PageSpec`. The dashboard
registers each page at its path and builds the navigation from the pages it is given, in order;
it imports no pack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    """One page of the dashboard.

    Attributes:
        path: where it is served, e.g. ``/factory``; unique.
        label: its entry in the navigation, e.g. ``Factory``.
        render: builds the page for one browser tab (NiceGUI's page function); it calls
            :func:`edgetwin.dashboard.frame.frame` with its ``path`` to get the header.
    """

    path: str
    label: str
    render: Callable[[], Awaitable[None]]

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"page {self.label!r}: its path {self.path!r} must start with /")
