"""``/api/v1/applications``: the application registry (the reference's App Registry Service).

An application registers for device types. Its key is an identity of kind APP (a viewer of its
tenant, limited to its device types, :class:`~edgetwin.core.security.Caller`): shown once, in
the answer that creates or regenerates it, stored only as a hash in the identity store, never
returned by a GET and never logged. Deleting the application revokes its key. With the stream
backbone in use, the application also gets a NATS user that may subscribe only to
``iot.{type}.enriched`` of its device types (its password shown once beside the key).

Reading needs any caller (an application's own key sees only itself); every change needs an
admin and is audited. An application of a tenant the caller may not see answers 404.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.cloud.deps import AdminDep, AuthDep, CallerDep
from edgetwin.cloud.registries.mirror import RegistryMirror, nats_user
from edgetwin.cloud.registries.store import RegistryStore, open_seeded
from edgetwin.core.ids import Segment
from edgetwin.core.security import Caller, CallerKind, Role
from edgetwin.streams.subjects import type_subject

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])

Platform = Literal["web", "mobile", "desktop", "api"]
Text = Annotated[str, Field(max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Types = Annotated[list[Segment], Field(min_length=1, max_length=50)]


class ApplicationCreate(BaseModel):
    """An application to register (the reference's fields)."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    developer: Annotated[str, Field(max_length=200)] = ""
    description: Text = ""
    platform: Platform = "web"
    category: Annotated[str, Field(max_length=100)] = ""
    devicetypes: Types = Field(description="the device types it reads, e.g. smart_breaker")
    version: Annotated[str, Field(max_length=32)] = "1.0.0"
    contact_email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    tenant: Segment | None = Field(None, description="its tenant (default: the plant's)")


class ApplicationUpdate(BaseModel):
    """Fields to change; a change of ``devicetypes`` replaces the key (shown in the answer)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    developer: Annotated[str, Field(max_length=200)] | None = None
    description: Text | None = None
    platform: Platform | None = None
    category: Annotated[str, Field(max_length=100)] | None = None
    devicetypes: Types | None = None
    version: Annotated[str, Field(max_length=32)] | None = None
    contact_email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    status: Literal["active", "inactive"] | None = None


class ApplicationPublic(BaseModel):
    """A registered application, as anyone allowed to see it sees it: never its key."""

    id: str
    tenant: str
    name: str
    developer: str
    description: str
    platform: str
    category: str
    devicetypes: list[str]
    version: str
    contact_email: str | None
    status: str
    created_at: str
    updated_at: str


class NatsCredentials(BaseModel):
    """The application's user on the stream backbone (shown once)."""

    user: str
    password: str
    subjects: list[str] = Field(description="the only subjects it may subscribe to")


class ApplicationWithKey(ApplicationPublic):
    """The answer that creates or regenerates a key: the only time the key is shown."""

    api_key: str = Field(description="Authorization: Bearer <api_key>; shown only now")
    nats: NatsCredentials | None = Field(None, description="null: no stream backbone in use")


class ApplicationChanged(ApplicationPublic):
    """The answer to a change: a new key only when the device types changed (the key carries
    them; the old one is revoked), else null."""

    api_key: str | None = Field(None, description="the new key, shown only now; null: unchanged")
    nats: NatsCredentials | None = None


class Registry:
    """The store and the mirror of one cloud process (opened on first use)."""

    def __init__(self, store: RegistryStore, mirror: RegistryMirror) -> None:
        self.store = store
        self.mirror = mirror


_opening = asyncio.Lock()


async def get_registry(request: Request) -> Registry:
    state = request.app.state
    found: Registry | None = getattr(state, "registry", None)
    if found is not None:
        return found
    async with _opening:
        if getattr(state, "registry", None) is None:
            state.registry = await asyncio.to_thread(_open, state.settings)
            await _sync(state.registry)
    registry: Registry = state.registry
    return registry


def _open(settings: Any) -> Registry:
    """Open, migrate and seed the store (see :func:`open_seeded`)."""
    return Registry(open_seeded(settings), RegistryMirror(settings))


RegistryDep = Annotated[Registry, Depends(get_registry)]


async def _sync(reg: Registry) -> None:
    types, apps = await asyncio.to_thread(lambda: (reg.store.device_types(), reg.store.apps()))
    await reg.mirror.sync(types, apps)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: row[k] for k in ("id", "tenant", "name", "developer", "description", "platform",
                               "category", "version", "contact_email", "status")},
        "devicetypes": list(row["device_types"]),
        "created_at": _iso(row["created_ms"]),
        "updated_at": _iso(row["updated_ms"]),
    }  # fmt: skip


def _visible(row: dict[str, Any] | None, caller: Caller) -> dict[str, Any]:
    """The row if ``caller`` may see it, else 404 (as if it did not exist)."""
    if row is None or not caller.may_see(row["tenant"]):
        raise HTTPException(404, "no such application")
    if caller.kind is CallerKind.APP and caller.name != f"app:{row['id']}":
        raise HTTPException(404, "no such application")  # an application sees only itself
    return row


async def _issue(reg: Registry, auth: Any, row: dict[str, Any]) -> ApplicationWithKey:
    """A new key (the old one revoked) and, with the stream backbone, a new NATS password."""
    if row.get("token_id"):
        auth.store.revoke_token(row["token_id"])
        auth.forget()  # effective at once on this worker
    info, secret = auth.store.create_token(
        Role.VIEWER, [row["tenant"]], kind=CallerKind.APP, label=row["id"],
        device_types=list(row["device_types"]),
    )  # fmt: skip
    updated = await asyncio.to_thread(reg.store.update_app, row["id"], {"token_id": info.id})
    row = updated or row
    nats = None
    if reg.mirror.enabled:
        password = secrets.token_urlsafe(24)
        await asyncio.to_thread(reg.mirror.set_user, row["id"], row["device_types"], password)
        subjects = [type_subject(t) for t in row["device_types"] if _token(t)]
        nats = NatsCredentials(user=nats_user(row["id"]), password=password, subjects=subjects)
    return ApplicationWithKey(**_public(row), api_key=secret, nats=nats)


def _token(device_type: str) -> bool:
    try:
        type_subject(device_type)
    except ValueError:
        return False
    return True


@router.post("", status_code=201, summary="Register an application (its key is shown only now)")
async def create(
    body: ApplicationCreate, caller: AdminDep, auth: AuthDep, reg: RegistryDep, request: Request
) -> ApplicationWithKey:
    tenant = body.tenant or request.app.state.settings.tenant
    if not caller.may_see(tenant):
        raise HTTPException(404, f"no tenant {tenant!r}")
    fields = body.model_dump(exclude={"tenant", "devicetypes"})
    fields["device_types"] = sorted(set(body.devicetypes))
    row = await asyncio.to_thread(reg.store.create_app, tenant, fields)
    out = await _issue(reg, auth, row)
    auth.audit(caller, "application.create", row["id"], "ok", tenant=tenant,
               detail=f"{row['name']} for {', '.join(row['device_types'])}")  # fmt: skip
    await _sync(reg)
    return out


@router.get("", summary="The applications the caller may see")
async def list_apps(caller: CallerDep, reg: RegistryDep) -> list[ApplicationPublic]:
    rows = await asyncio.to_thread(reg.store.apps)
    out = []
    for row in rows:
        try:
            out.append(ApplicationPublic(**_public(_visible(row, caller))))
        except HTTPException:
            continue
    return out


@router.get("/by-device-type/{name}", summary="The applications registered for a type")
async def by_device_type(
    name: Segment, caller: CallerDep, reg: RegistryDep
) -> list[ApplicationPublic]:
    return [a for a in await list_apps(caller, reg) if name in a.devicetypes]


@router.get("/{app_id}", summary="One application", responses={404: {"description": "none"}})
async def get_app(app_id: str, caller: CallerDep, reg: RegistryDep) -> ApplicationPublic:
    row = await asyncio.to_thread(reg.store.app, app_id)
    return ApplicationPublic(**_public(_visible(row, caller)))


@router.patch(
    "/{app_id}", summary="Change an application", responses={404: {"description": "none"}}
)
async def update_app(
    app_id: str, body: ApplicationUpdate, caller: AdminDep, auth: AuthDep, reg: RegistryDep
) -> ApplicationChanged:
    row = _visible(await asyncio.to_thread(reg.store.app, app_id), caller)
    fields = body.model_dump(exclude_unset=True, exclude={"devicetypes"})
    retyped = body.devicetypes is not None and sorted(set(body.devicetypes)) != row["device_types"]
    if body.devicetypes is not None:
        fields["device_types"] = sorted(set(body.devicetypes))
    updated = await asyncio.to_thread(reg.store.update_app, app_id, fields)
    row = updated or row
    auth.audit(caller, "application.update", app_id, "ok", tenant=row["tenant"],
               detail=", ".join(sorted(body.model_dump(exclude_unset=True))))  # fmt: skip
    out = ApplicationChanged(**_public(row))
    if retyped:  # the key carries the device types: a new one, the old revoked
        out = ApplicationChanged(**(await _issue(reg, auth, row)).model_dump())
    await _sync(reg)
    return out


@router.post(
    "/{app_id}/regenerate-key",
    summary="A new key for an application (the old one stops working; shown only now)",
    responses={404: {"description": "none"}},
)
async def regenerate(
    app_id: str, caller: AdminDep, auth: AuthDep, reg: RegistryDep
) -> ApplicationWithKey:
    row = _visible(await asyncio.to_thread(reg.store.app, app_id), caller)
    out = await _issue(reg, auth, row)
    auth.audit(caller, "application.regenerate_key", app_id, "ok", tenant=row["tenant"])
    return out


@router.delete(
    "/{app_id}", status_code=204, summary="Delete an application and revoke its key",
    responses={404: {"description": "none"}},
)  # fmt: skip
async def delete_app(app_id: str, caller: AdminDep, auth: AuthDep, reg: RegistryDep) -> Response:
    row = _visible(await asyncio.to_thread(reg.store.app, app_id), caller)
    if row.get("token_id"):
        auth.store.revoke_token(row["token_id"])
        auth.forget()
    await asyncio.to_thread(reg.store.delete_app, app_id)
    await asyncio.to_thread(reg.mirror.remove_user, app_id)
    auth.audit(caller, "application.delete", app_id, "ok", tenant=row["tenant"])
    await _sync(reg)
    return Response(status_code=204)
