"""Logging in and out: ``POST /auth/login`` (name and password), ``GET /auth/link`` (the
one-time link ``edgetwin up`` prints), ``POST /auth/logout``, ``GET /api/v1/me``.

A login sets the session cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` under TLS) and a
readable ``edgetwin_csrf`` cookie whose value a state-changing request on the session must echo
in ``X-CSRF-Token``. Every login, good or bad, is audited.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.cloud.deps import ACCESS_KEY, SESSION_COOKIE, AuthDep, CallerDep
from edgetwin.core.security import Caller
from edgetwin.security.identities import SESSION_TTL_S

router = APIRouter(tags=["auth"])
_PUBLIC = {ACCESS_KEY: "public"}

CSRF_COOKIE = "edgetwin_csrf"


class Me(BaseModel):
    """Who the caller is."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: str
    kind: str
    tenants: list[str]
    device_types: list[str] = Field(default_factory=list)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _start_session(response: Response, request: Request, auth: AuthDep, caller: Caller) -> None:
    session_id, csrf = auth.store.create_session(caller.name)
    secure = _secure(request)
    max_age = int(SESSION_TTL_S)
    response.set_cookie(
        SESSION_COOKIE, session_id, max_age=max_age, httponly=True, samesite="strict",
        secure=secure, path="/",
    )  # fmt: skip
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict", secure=secure,
        path="/",
    )  # fmt: skip


def _next(target: str | None) -> str:
    # only a path of this site: never an open redirect to another one
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.post(
    "/auth/login",
    openapi_extra=_PUBLIC,
    summary="Log in with name and password (form fields); sets the session cookie",
    responses={303: {"description": "logged in: to `next`"}, 401: {"description": "refused"}},
    status_code=303,
)
async def login(
    request: Request,
    auth: AuthDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form(max_length=512)] = None,
) -> Response:
    caller = auth.store.check_password(username, password)
    auth.audit(username[:64], "login", "dashboard", "ok" if caller else "refused")
    if caller is None:
        if "text/html" in request.headers.get("accept", ""):  # a browser's form post
            return RedirectResponse(f"/login?error=1&next={quote(_next(next))}", 303)
        raise HTTPException(401, "wrong name or password")
    response = RedirectResponse(_next(next), status_code=303)
    _start_session(response, request, auth, caller)
    return response


@router.get(
    "/auth/link",
    openapi_extra=_PUBLIC,
    summary="Log in with a one-time link (printed once by edgetwin up)",
    responses={303: {"description": "logged in, to the dashboard"}},
    status_code=303,
)
async def login_link(
    request: Request, auth: AuthDep, code: Annotated[str, Query(max_length=128)]
) -> Response:
    caller = auth.store.redeem_login_code(code)
    auth.audit(
        caller.name if caller else "?", "login", "one-time link", "ok" if caller else "refused"
    )
    if caller is None:
        raise HTTPException(
            401,
            "this login link was used already or has expired; ask an admin for a new one"
            " (edgetwin user link NAME)",
        )
    response = RedirectResponse("/", status_code=303)
    _start_session(response, request, auth, caller)
    return response


@router.post("/auth/logout", summary="End the session", status_code=303, openapi_extra=_PUBLIC)
async def logout(request: Request, auth: AuthDep) -> Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        found = auth.session(session)
        if found and request.headers.get("x-csrf-token") != found[1]:
            # a form on the dashboard posts it; cross-site posts carry no SameSite cookie anyway
            form = await request.form()
            if form.get("csrf") != found[1]:
                raise HTTPException(403, "logout needs the session's CSRF token")
        auth.store.end_session(session)
        if found:
            auth.audit(found[0], "logout", "dashboard", "ok")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/api/v1/me", response_model=Me, summary="Who you are: name, role, tenants")
async def me(caller: CallerDep) -> Me:
    return Me(
        name=caller.name,
        role=caller.role.value,
        kind=caller.kind.value,
        tenants=sorted(caller.tenants),
        device_types=sorted(caller.device_types),
    )
