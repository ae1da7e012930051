"""Who is looking at a page, and what they may do there.

Every dashboard page needs a session (the cookie ``POST /auth/login`` or a one-time link sets):
:func:`edgetwin.dashboard.guard.guarded` wraps a page so that a request without a valid one is
sent to ``/login?next=<path>``, and keeps the page's caller (:func:`keep`) for everything the
page does later (timers, clicks). Commands and fault switches are built only for operators and admins
(:func:`may_command`), and each click checks again on the server (:func:`authorize`), with the
session still valid, before anything is sent; every attempt is audited like the API's.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from fastapi import Request
from nicegui import Client, ui

from edgetwin.cloud.deps import SESSION_COOKIE
from edgetwin.core.security import Caller, Role
from edgetwin.dashboard import context

SESSION_CHECK_S: Final = 30.0  # an open page notices a logout or an expired session this soon
LOGIN_PATH: Final = "/login"


@dataclass(frozen=True)
class PageAccess:
    """The caller a page was built for, its session (the cookie's value; never shown) and the
    session's CSRF token (for the page's log-out form)."""

    caller: Caller
    session: str
    csrf: str


_pages: weakref.WeakKeyDictionary[Client, PageAccess] = weakref.WeakKeyDictionary()


def login_url(path: str) -> str:
    """``/login?next=<path>``: where a request without a session goes."""
    return f"{LOGIN_PATH}?next={quote(path, safe='/')}"


def session(session_id: str | None) -> PageAccess | None:
    """The valid session ``session_id`` names; None when there is none or it has ended."""
    if not session_id:
        return None
    found = context.get().auth.session(session_id)
    if found is None:
        return None
    caller, csrf = found
    return PageAccess(caller, session_id, csrf)


def of_request(request: Request) -> PageAccess | None:
    """The session of a request's cookie; None without a valid one."""
    return session(request.cookies.get(SESSION_COOKIE))


def of_client(client: Client) -> PageAccess | None:
    """The access a browser tab's page was built with; None for a page built without one."""
    return _pages.get(client)


def current() -> PageAccess:
    """The access of the page being built or handled.

    Raises:
        RuntimeError: the page was not built through :func:`guarded`.
    """
    found = _pages.get(ui.context.client)
    if found is None:
        raise RuntimeError("this page was built without a session (not mounted through guarded)")
    return found


def caller() -> Caller:
    """The caller of the page being built or handled (see :func:`current`)."""
    return current().caller


def may_command() -> bool:
    """Whether the page's caller may send commands and switch faults: operators and admins."""
    return caller().at_least(Role.OPERATOR)


def authorize(action: str, target: str, tenant: str) -> Caller | None:
    """Check a click on the server before it acts: the page's session still valid, its caller
    an operator or admin who may see ``tenant``. Returns the caller, or None after telling the
    user why and auditing the refusal (``action`` is ``command`` or ``fault``)."""
    page = current()
    now = session(page.session)
    if now is None or now.caller.name != page.caller.name:
        why = "your session has ended; log in again"
    elif not now.caller.at_least(Role.OPERATOR):
        why = f"this needs the operator role (you are {now.caller.role})"
    elif not now.caller.may_see(tenant):
        why = f"tenant {tenant!r} is not one of yours"
    else:
        return now.caller
    audit(page.caller, action, target, "refused 403", tenant=tenant, detail=why)
    ui.notify(f"not sent: {why}", type="negative")
    return None


def audit(
    who: Caller, action: str, target: str, outcome: str, *, tenant: str, detail: str = ""
) -> None:
    """Record a page's command or fault in the audit log, as the API's routes do."""
    context.get().auth.audit(who, action, target, outcome, tenant=tenant, detail=detail)


def watch_session(path: str) -> None:
    """Send the open page to the login page once its session has ended (checked every
    ``SESSION_CHECK_S`` seconds)."""
    page = current()

    def check() -> None:
        if session(page.session) is None:
            ui.navigate.to(login_url(path))

    ui.timer(SESSION_CHECK_S, check)


def keep(client: Client, page: PageAccess) -> None:
    """Remember that ``client``'s page was built for ``page``'s caller and session."""
    _pages[client] = page
