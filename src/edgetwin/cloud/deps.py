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
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket

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


def _need(role: Role, *, edges: bool = False) -> object:
    def check(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if caller.kind == CallerKind.EDGE and not edges:
            raise HTTPException(403, "an edge's credential is for ingest only")
        if not caller.at_least(role):
            raise HTTPException(403, f"this needs the {role.value} role (you are {caller.role})")
        return caller

    return Depends(check)


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
