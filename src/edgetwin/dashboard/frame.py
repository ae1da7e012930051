"""The frame every page shares: header with the brand, the navigation, who is logged in with a
log-out button, and a content column."""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator

from nicegui import ui

from edgetwin.dashboard import access, context, theme


@contextlib.contextmanager
def frame(active: str, title: str) -> Iterator[None]:
    """Build the header, then yield inside the page's content column.

    Args:
        active: the path of the page being built, highlighted in the navigation.
        title: the browser tab's title.
    """
    theme.apply()
    ui.page_title(f"{title} · edgetwin")
    ctx = context.get()
    settings = ctx.settings
    with (
        ui.header()
        .classes("items-center px-3 sm:px-6 py-2 gap-x-6 gap-y-1")
        .style(f"background: {theme.HEADER}; border-bottom: 1px solid {theme.SURFACE_EDGE}")
    ):
        with ui.row().classes("items-center gap-2 no-wrap"):
            ui.icon("precision_manufacturing", size="26px").style(f"color: {theme.ACCENT}")
            ui.label("edgetwin").classes("text-xl font-bold tracking-wide").style(
                f"color: {theme.TEXT}"
            )
        with ui.row().classes("items-center gap-1").props('data-testid="nav"'):
            for page in ctx.pages:  # as mounted: the overview, then the packs' pages
                css = "et-nav et-nav-active" if page.path == active else "et-nav"
                ui.link(page.label, page.path).classes(css)
        ui.space()
        with ui.row().classes("items-center gap-2 no-wrap"):
            ui.icon("factory", size="18px").style(f"color: {theme.MUTED}")
            ui.label(f"{settings.tenant} / {settings.plant}").classes("et-sub et-mono")
        _who()
    access.watch_session(active)
    with ui.column().classes("w-full max-w-[1600px] mx-auto px-3 sm:px-6 py-5 gap-5"):
        yield


def _who() -> None:
    """The logged-in user and role, and a log-out button: a form that posts the session's CSRF
    token to ``POST /auth/logout`` (the answer sends the browser to the login page)."""
    page = access.current()
    with ui.row().classes("items-center gap-2 no-wrap").props('data-testid="who"'):
        ui.icon("account_circle", size="20px").style(f"color: {theme.MUTED}")
        ui.label(page.caller.name).classes("font-medium").props('data-testid="who-name"')
        ui.badge(page.caller.role.value, color="secondary").props('data-testid="who-role"')
        ui.html(
            '<form method="post" action="/auth/logout" style="margin:0">'
            f'<input type="hidden" name="csrf" value="{html.escape(page.csrf)}">'
            '<button type="submit" class="et-nav et-logout" data-testid="logout">Log out</button>'
            "</form>",
            sanitize=False,
        )
