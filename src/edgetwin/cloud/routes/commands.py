"""``/api/v1/devices/{id}/commands``: create, list and follow device commands.

The command log returns plain dicts; ``response_model`` checks and documents their shape
(:class:`edgetwin.cloud.schemas.commands.CommandRecord`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import Field

from edgetwin.cloud.commands.lifecycle import Target
from edgetwin.cloud.commands.service import CommandService
from edgetwin.cloud.deps import CallerDep, ServicesDep, SettingsDep
from edgetwin.cloud.schemas.commands import CommandCreate, CommandRecord

router = APIRouter(prefix="/api/v1/devices", tags=["commands"])


def _service(request: Request) -> CommandService:
    service: CommandService = request.app.state.commands
    return service


async def resolve_device(
    services: Any, tenant: str, plant: str, device_id: str, line: str | None
) -> Target:
    """A device id is its machine name (``stm32-motor-01``) or ``line.machine``; the line is
    looked up among the devices that have sent readings when not given."""
    if line is None and "." in device_id and not device_id.startswith("."):
        maybe_line, _, machine = device_id.partition(".")
        for dev in await services.devices(tenant, plant):
            if (dev["line"], dev["machine"]) == (maybe_line, machine):
                return Target(tenant, plant, maybe_line, machine)
    if line is not None:
        return Target(tenant, plant, line, device_id)
    for dev in await services.devices(tenant, plant):
        if dev["machine"] == device_id:
            return Target(tenant, plant, dev["line"], device_id)
    raise HTTPException(404, f"no device {device_id!r} in {tenant}/{plant} (give ?line= for one "
                             "that has never reported)")  # fmt: skip


@router.post(
    "/{device_id}/commands",
    status_code=201,
    response_model=CommandRecord,
    responses={
        200: {
            "model": CommandRecord,
            "description": "The idempotency key was known: the command it created before",
        }
    },
    summary="Send a command to a device",
)
async def create_command(
    device_id: str,
    body: CommandCreate,
    request: Request,
    response: Response,
    services: ServicesDep,
    settings: SettingsDep,
    caller: CallerDep,
    tenant: str = "acme",
    plant: str | None = None,
    line: str | None = None,
) -> dict[str, Any]:
    if not caller.may_see(tenant):
        raise HTTPException(404, "no such tenant")
    target = await resolve_device(services, tenant, plant or settings.plant, device_id, line)
    cmd, existing = _service(request).create(
        target, body.name, body.args, body.ttl_s, body.idempotency_key, caller.name
    )
    if existing:
        response.status_code = 200  # the same idempotency key: the same command, not a new one
    return cmd


@router.get(
    "/{device_id}/commands",
    response_model=list[CommandRecord],
    summary="A device's commands, newest first (audit log)",
)
async def list_commands(
    device_id: str,
    request: Request,
    settings: SettingsDep,
    caller: CallerDep,
    tenant: str = "acme",
    plant: str | None = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    if not caller.may_see(tenant):
        raise HTTPException(404, "no such tenant")
    machine = device_id.partition(".")[2] if "." in device_id else device_id
    return _service(request).log.list_for(tenant, plant or settings.plant, machine, limit)


@router.get(
    "/{device_id}/commands/{command_id}",
    response_model=CommandRecord,
    summary="One command with its history",
)
async def get_command(
    device_id: str, command_id: str, request: Request, caller: CallerDep, tenant: str = "acme"
) -> dict[str, Any]:
    cmd = _service(request).log.get(tenant, command_id) if caller.may_see(tenant) else None
    machine = device_id.partition(".")[2] if "." in device_id else device_id
    if cmd is None or cmd["device"]["machine"] != machine:
        raise HTTPException(404, "no such command")
    return cmd
