"""Registers every dashboard page: importing a page module registers its ``@ui.page`` route."""

from __future__ import annotations

from edgetwin.dashboard import overview
from edgetwin.packs.factory import page as factory_page
from edgetwin.packs.motor import page as motor_page

__all__ = ["factory_page", "motor_page", "overview"]
