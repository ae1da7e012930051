"""Admin routes: ``/api/v1/users``, ``/api/v1/tokens``, ``/api/v1/audit``.

A token's secret is answered once, by the POST that creates it; no GET shows it again, and the
audit log names tokens by their id only. An admin sees and manages only users and tokens whose
tenants are all within its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.cloud.deps import AdminDep, AuthDep
from edgetwin.core.ids import SEGMENT_PATTERN
from edgetwin.core.security import Caller, CallerKind, Role
from edgetwin.security.identities import TokenInfo, UserInfo

router = APIRouter(prefix="/api/v1", tags=["admin"])

Tenant = Annotated[str, Field(pattern=rf"^(\*|{SEGMENT_PATTERN.strip('^$')})$", max_length=64)]


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern=SEGMENT_PATTERN, max_length=64)]
    role: Role
    tenants: Annotated[list[Tenant], Field(min_length=1, max_length=100)]
    password: Annotated[str | None, Field(min_length=12, max_length=1024)] = None


class UserPublic(BaseModel):
    name: str
    role: Role
    tenants: list[str]
    created: str
    has_password: bool


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    tenants: Annotated[list[Tenant], Field(min_length=1, max_length=100)]
    label: Annotated[str, Field(max_length=64)] = ""


class TokenPublic(BaseModel):
    id: str
    kind: CallerKind
    role: Role
    tenants: list[str]
    plants: list[str]
    device_types: list[str]
    label: str
    created: str
    revoked: str | None


class TokenCreated(TokenPublic):
    token: str = Field(description="the secret: shown this once, never again")


class AuditPublic(BaseModel):
    seq: int
    at: str
    caller: str
    tenant: str
    action: str
    target: str
    outcome: str
    detail: str


def _within(caller: Caller, tenants: frozenset[str]) -> bool:
    return "*" in caller.tenants or ("*" not in tenants and tenants <= caller.tenants)


def _user(u: UserInfo) -> UserPublic:
    return UserPublic(
        name=u.name, role=u.role, tenants=sorted(u.tenants), created=_iso(u.created) or "",
        has_password=u.has_password,
    )  # fmt: skip


def _token(t: TokenInfo) -> TokenPublic:
    return TokenPublic(
        id=t.id, kind=t.kind, role=t.role, tenants=sorted(t.tenants), plants=sorted(t.plants),
        device_types=sorted(t.device_types), label=t.label, created=_iso(t.created) or "",
        revoked=_iso(t.revoked),
    )  # fmt: skip


@router.get("/users", response_model=list[UserPublic], summary="Users (admin)")
async def list_users(caller: AdminDep, auth: AuthDep) -> list[UserPublic]:
    return [_user(u) for u in auth.store.users() if _within(caller, u.tenants)]


@router.post("/users", response_model=UserPublic, status_code=201, summary="Add a user (admin)")
async def add_user(body: UserCreate, caller: AdminDep, auth: AuthDep) -> UserPublic:
    tenants = frozenset(body.tenants)
    if not _within(caller, tenants):
        raise HTTPException(403, "you may only grant tenants you hold yourself")
    try:
        user = auth.store.add_user(body.name, body.role, tenants, body.password)
    except ValueError as exc:
        auth.audit(caller, "user.add", body.name, "refused", detail=str(exc))
        raise HTTPException(409, str(exc)) from exc
    auth.audit(caller, "user.add", body.name, "ok", detail=f"role={body.role.value}")
    return _user(user)


@router.delete("/users/{name}", status_code=204, summary="Remove a user (admin)")
async def remove_user(name: str, caller: AdminDep, auth: AuthDep) -> None:
    user = auth.store.user(name)
    if user is None or not _within(caller, user.tenants):
        raise HTTPException(404, f"no user {name!r}")
    auth.store.remove_user(name)
    auth.audit(caller, "user.remove", name, "ok")


@router.get("/tokens", response_model=list[TokenPublic], summary="API tokens, never their secrets")
async def list_tokens(caller: AdminDep, auth: AuthDep) -> list[TokenPublic]:
    return [_token(t) for t in auth.store.tokens() if _within(caller, t.tenants)]


@router.post(
    "/tokens", response_model=TokenCreated, status_code=201, summary="Create an API token (admin)"
)
async def create_token(body: TokenCreate, caller: AdminDep, auth: AuthDep) -> TokenCreated:
    tenants = frozenset(body.tenants)
    if not _within(caller, tenants):
        raise HTTPException(403, "you may only grant tenants you hold yourself")
    info, secret = auth.store.create_token(body.role, tenants, label=body.label)
    auth.audit(caller, "token.create", info.id, "ok", detail=f"role={body.role.value}")
    return TokenCreated(**_token(info).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token (admin)")
async def revoke_token(token_id: str, caller: AdminDep, auth: AuthDep) -> None:
    info = auth.store.token(token_id)
    if info is None or info.revoked is not None or not _within(caller, info.tenants):
        raise HTTPException(404, f"no token {token_id!r}")
    auth.store.revoke_token(token_id)
    auth.forget()
    auth.audit(caller, "token.revoke", token_id, "ok")


@router.get(
    "/audit", response_model=list[AuditPublic], summary="The audit log, newest first (admin)"
)
async def audit(
    caller: AdminDep,
    auth: AuthDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, description="seq to page back from")] = None,
) -> list[AuditPublic]:
    rows = auth.store.audit_entries(caller.tenants, limit=limit, before=before)
    return [
        AuditPublic(
            seq=r.seq,
            at=_iso(r.at) or "",
            caller=r.caller,
            tenant=r.tenant,
            action=r.action,
            target=r.target,
            outcome=r.outcome,
            detail=r.detail,
        )
        for r in rows
    ]
