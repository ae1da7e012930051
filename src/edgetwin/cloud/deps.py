"""Dependencies of the routes, as ``Annotated`` aliases.

Every route but ``/health`` (and ``/metrics`` on a loopback bind) takes a caller, so nothing is
anonymous. A caller proves who it is with ``Authorization: Bearer <token>`` (an API token, an
edge's or an application's key) or the dashboard's session cookie; a state-changing request on
the cookie must also carry the session's CSRF token in ``X-CSRF-Token``. Then its role is
checked (:mod:`edgetwin.core.security` has the table) and its rate: over the per-caller limit
the answer is 429 with ``Retry-After``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from edgetwin.cloud.auth import Authenticator
from edgetwin.cloud.plant_link import PlantLink
from edgetwin.cloud.services import Services
from edgetwin.core.security import Caller, CallerKind, Role
from edgetwin.core.settings import Settings

SESSION_COOKIE = "edgetwin_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_plant_link(request: Request) -> PlantLink:
    link: PlantLink = request.app.state.plant_link
    return link


def get_authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.auth
    return auth


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(request: Request) -> Caller:
    """The request's caller, rate-checked. Raises 401 (no or bad credentials), 403 (a cookie
    request without its CSRF token) or 429."""
    auth: Authenticator = request.app.state.auth
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if header:
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("use Authorization: Bearer <token>")
        caller = auth.token(token.strip())
        if caller is None:
            raise _unauthenticated("the token is not valid (unknown, revoked or mistyped)")
    else:
        session = request.cookies.get(SESSION_COOKIE)
        found = auth.session(session) if session else None
        if found is None:
            raise _unauthenticated(
                "credentials needed: Authorization: Bearer <token> (edgetwin token create)"
                " or log in on the dashboard"
            )
        caller, csrf = found
        if request.method not in _SAFE_METHODS and not hmac.compare_digest(
            request.headers.get("x-csrf-token", ""), csrf
        ):
            raise HTTPException(403, "a request on the session cookie needs its X-CSRF-Token")
    retry = auth.limiter.take(caller)
    if retry is not None:
        raise HTTPException(
            429,
            f"over the rate limit of {auth.limiter.rate:g} requests/s; retry later",
            headers={"Retry-After": str(max(1, round(retry)))},
        )
    request.state.caller = caller
    return caller


def authenticate_ws(websocket: WebSocket) -> Caller | None:
    """A WebSocket's caller: ``?token=``, ``Authorization: Bearer`` or the session cookie
    (a browser's WebSocket cannot set headers). None when none is valid."""
    auth: Authenticator = websocket.app.state.auth
    header = websocket.headers.get("authorization", "")
    token = websocket.query_params.get("token") or (
        header[7:].strip() if header.lower().startswith("bearer ") else ""
    )
    if token:
        return auth.token(token)
    session = websocket.cookies.get(SESSION_COOKIE)
    found = auth.session(session) if session else None
    return found[0] if found else None


ACCESS_KEY = "x-edgetwin-access"
"""OpenAPI extension on every operation: who may call it (``public``, ``viewer``, ``operator``,
``admin``, ``ingest``); set by :func:`mark_access`, read by docs and the route-walking test."""


def _need(role: Role, *, edges: bool = False) -> object:
    def check(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if caller.kind == CallerKind.EDGE and not edges:
            raise HTTPException(403, "an edge's credential is for ingest only")
        if caller.kind == CallerKind.APP and role != Role.VIEWER:
            raise HTTPException(403, "an application's key is for reading only")
        if not caller.at_least(role):
            raise HTTPException(403, f"this needs the {role.value} role (you are {caller.role})")
        return caller

    check.access = "ingest" if edges else role.value  # type: ignore[attr-defined]
    return Depends(check)


def route_access(route: APIRoute) -> str | None:
    """The access a route declares: its explicit ``openapi_extra`` entry, else the strongest
    caller dependency it takes; None when it takes none (a route that must be fixed)."""
    declared = (route.openapi_extra or {}).get(ACCESS_KEY)
    if declared:
        return str(declared)
    order = ["viewer", "ingest", "operator", "admin"]
    found: list[str] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        access = getattr(dep.call, "access", None)
        if access:
            found.append(access)
        stack.extend(dep.dependencies)
    return max(found, key=order.index) if found else None


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route, also inside included routers (FastAPI keeps those as one entry)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from api_routes(inner.routes)


def mark_access(app: FastAPI) -> None:
    """Write each API route's access into its OpenAPI operation (``x-edgetwin-access``)."""
    for route in api_routes(app.routes):
        access = route_access(route)
        if access is not None:
            route.openapi_extra = {**(route.openapi_extra or {}), ACCESS_KEY: access}


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PlantLinkDep = Annotated[PlantLink, Depends(get_plant_link)]
AuthDep = Annotated[Authenticator, Depends(get_authenticator)]
CallerDep = Annotated[Caller, _need(Role.VIEWER)]
"""Any authenticated person, token or application (reads); edges are refused."""
OperatorDep = Annotated[Caller, _need(Role.OPERATOR)]
"""Operators and admins: commands and faults."""
AdminDep = Annotated[Caller, _need(Role.ADMIN)]
"""Admins: users, tokens, registries, configuration, the audit log."""
IngestCallerDep = Annotated[Caller, _need(Role.OPERATOR, edges=True)]
"""Edges (their own tenant and plant only), operators and admins."""
