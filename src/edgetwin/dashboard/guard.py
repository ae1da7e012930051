"""Pages behind a session: :func:`guarded` wraps a page's render function.

A request without a valid session is redirected to ``/login?next=<path>`` (303); the page's
caller is kept for its timers and clicks (:mod:`edgetwin.dashboard.access`). The pages show only
the configured tenant's data: a caller who may not see that tenant gets a page that says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi.responses import RedirectResponse, Response
from nicegui import ui

from edgetwin.dashboard import access, context
from edgetwin.dashboard.frame import frame


def guarded(path: str, render: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[object]]:
    """``render`` behind a session: without one the request is redirected to the login page
    (303); a caller who may not see the configured tenant gets :func:`not_yours`."""

    async def page() -> Response | None:
        client = ui.context.client
        found = access.of_request(client.request)
        if found is None:
            target = path + (f"?{client.request.url.query}" if client.request.url.query else "")
            return RedirectResponse(access.login_url(target), status_code=303)
        access.keep(client, found)
        if not found.caller.may_see(context.get().settings.tenant):
            await not_yours(path)
        else:
            await render()
        return None

    page.__name__ = f"page_{path.strip('/').replace('/', '_') or 'root'}"
    return page


async def not_yours(path: str) -> None:
    """The page for a caller whose tenants do not include the one this dashboard shows."""
    settings = context.get().settings
    with frame(path, "Nothing to show"):
        tenants = ", ".join(sorted(access.caller().tenants))
        with (
            ui.column().classes("w-full items-center gap-2 py-16").props('data-testid="not-yours"')
        ):
            ui.icon("visibility_off", size="40px").classes("text-grey-6")
            ui.label("Nothing to show").classes("text-xl font-semibold")
            ui.label(
                f"This dashboard shows tenant {settings.tenant}; your account sees {tenants}."
            ).classes("et-sub")
