"""The gate in front of the dashboard: its pages and its event connection (NiceGUI's socket.io
endpoint, ``/_nicegui_ws/``, over which every click on a page travels) take only a browser with
a valid session, the event connection only from this site.

A request for a page without a valid session is redirected to ``/login?next=<path>`` (303)
before any page is built (:func:`edgetwin.dashboard.guard.guarded` checks again, and keeps the
page's caller). An event connection (its WebSocket upgrade or any of its HTTP long-polling requests) is refused with
403 when

- its ``Origin`` header names another site than its ``Host`` (a page of another site opening a
  connection to drive ours: cross-site request forgery over WebSocket, which ``SameSite`` alone
  does not stop for a same-site attacker);
- it carries no valid session cookie;
- it names a page (``client_id``) that was built for another session.

Static assets (``/_nicegui/...``) stay open: they hold no data.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from nicegui import Client
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from edgetwin.cloud.deps import SESSION_COOKIE
from edgetwin.dashboard import access

SOCKET_PREFIX: Final = "/_nicegui_ws/"


def refusal(conn: HTTPConnection) -> str | None:
    """Why the event connection ``conn`` may not open; None when it may."""
    origin = conn.headers.get("origin")
    host = conn.headers.get("host", "")
    if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
        return "the dashboard's connection is only for its own pages (Origin differs from Host)"
    found = access.session(conn.cookies.get(SESSION_COOKIE))
    if found is None:
        return "log in first: no valid session"
    client = Client.instances.get(conn.query_params.get("client_id", ""))
    page = access.of_client(client) if client is not None else None
    if page is not None and page.session != found.session:
        return "this page was opened in another session; reload it"
    return None


class Gate:
    """ASGI middleware: sends a request for one of ``pages`` (paths) without a valid session to
    the login page, and checks :func:`refusal` for every request under ``/_nicegui_ws/``."""

    def __init__(self, app: ASGIApp, pages: frozenset[str]) -> None:
        self.app = app
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.pages:
            conn = HTTPConnection(scope)
            if access.session(conn.cookies.get(SESSION_COOKIE)) is None:
                query = f"?{conn.url.query}" if conn.url.query else ""
                target = access.login_url(scope["path"] + query)
                await RedirectResponse(target, status_code=303)(scope, receive, send)
                return
        if scope["type"] in ("http", "websocket") and scope["path"].startswith(SOCKET_PREFIX):
            reason = refusal(HTTPConnection(scope))
            if reason is not None:
                if scope["type"] == "websocket":
                    # closed before it is accepted: the server answers the upgrade with 403
                    await WebSocket(scope, receive, send).close(code=1008, reason=reason)
                else:
                    await PlainTextResponse(reason, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)
