"""``/api/v1/devices/{id}/commands``: create, list and follow device commands.

``{id}`` is the device's id as ``GET /api/v1/devices`` lists it (``{plant}:{line}:{machine}``),
``{line}:{machine}``, or the machine's name alone when one line of the plant has it
(:mod:`edgetwin.cloud.params`). A device is known once it has sent a reading or been sent a
command; any other id answers 404. The command log returns plain dicts; ``response_model``
checks and documents their shape (:class:`edgetwin.cloud.schemas.commands.CommandRecord`), with
every time in ISO 8601 UTC.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from edgetwin.cloud.commands.lifecycle import Target
from edgetwin.cloud.commands.rows import command_view
from edgetwin.cloud.commands.service import CommandService
from edgetwin.cloud.deps import AuthDep, CallerDep, OperatorDep, ServicesDep, SettingsDep
from edgetwin.cloud.params import DeviceIdPath, NameQuery, device_id, parse_device_id
from edgetwin.cloud.schemas.commands import CommandCreate, CommandRecord
from edgetwin.core.security import Caller

router = APIRouter(prefix="/api/v1/devices", tags=["commands"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such device (or tenant, or command)"}
}


def _service(request: Request) -> CommandService:
    service: CommandService = request.app.state.commands
    return service


async def resolve_device(
    services: Any,
    tenant: str,
    plant: str,
    device: str,
    line: str | None,
    *,
    commands: CommandService | None = None,
    unknown_ok: bool = False,
) -> Target:
    """The device ``device`` (an id, see the module) of ``tenant``/``plant``.

    It is looked up among the devices that have sent readings, then (with ``commands``) among
    those that have been sent commands. ``unknown_ok``: a ``line`` given as a query parameter
    names a device that has never reported (a command may be sent to it).

    Raises:
        HTTPException: 422 if the id and the query disagree on the plant or the line; 409 if a
            bare machine name is on several lines; 404 if no such device is known.
    """
    id_plant, id_line, machine = parse_device_id(device)
    if id_plant is not None and id_plant != plant:
        raise HTTPException(422, f"the id names plant {id_plant!r}, the query {plant!r}")
    if id_line is not None and line is not None and id_line != line:
        raise HTTPException(422, f"the id names line {id_line!r}, the query {line!r}")
    want_line = id_line or line
    if unknown_ok and line is not None:
        return Target(tenant, plant, line, machine)
    lines: list[str] = []
    if commands is not None:  # the command log first: it answers while the store is down
        found = commands.log.list_for(tenant, plant, machine, 1000)
        lines = sorted({c["device"]["line"] for c in found})
    if (want_line is None and len(lines) != 1) or (
        want_line is not None and want_line not in lines
    ):
        devices = await services.devices(tenant, plant)
        lines = sorted({*lines, *(d["line"] for d in devices if d["machine"] == machine)})
    if want_line is not None and want_line in lines:
        return Target(tenant, plant, want_line, machine)
    if want_line is None and len(lines) == 1:
        return Target(tenant, plant, lines[0], machine)
    if want_line is None and len(lines) > 1:
        ids = ", ".join(device_id(plant, ln, machine) for ln in lines)
        raise HTTPException(409, f"{machine!r} is on several lines; use one of the ids {ids}")
    hint = " (give ?line= for one that has never reported)" if unknown_ok else ""
    raise HTTPException(404, f"no device {device!r} in {tenant}/{plant}{hint}")


@router.post(
    "/{device}/commands",
    status_code=201,
    response_model=CommandRecord,
    responses={
        200: {
            "model": CommandRecord,
            "description": "The idempotency key was known: the command it created before",
        },
        **_NOT_FOUND,
    },
    summary="Send a command to a device",
)
async def create_command(
    device: DeviceIdPath,
    body: CommandCreate,
    request: Request,
    response: Response,
    services: ServicesDep,
    settings: SettingsDep,
    caller: OperatorDep,
    auth: AuthDep,
    tenant: NameQuery = "acme",
    plant: NameQuery | None = None,
    line: NameQuery | None = None,
) -> dict[str, Any]:
    if not caller.may_see(tenant):
        raise HTTPException(404, "no such tenant")
    target = await resolve_device(
        services, tenant, plant or settings.plant, device, line, unknown_ok=True
    )
    try:
        cmd, existing = _service(request).create(
            target, body.name, body.args, body.ttl_s, body.idempotency_key, caller.name
        )
    except HTTPException as exc:
        auth.audit(caller, "command", f"{device}:{body.name}", f"refused {exc.status_code}",
                   tenant=tenant)  # fmt: skip
        raise
    auth.audit(
        caller, "command", f"{target.plant}/{target.line}/{target.machine}:{body.name}",
        "repeated" if existing else "queued", tenant=tenant, detail=f"id={cmd['id']}",
    )  # fmt: skip
    if existing:
        response.status_code = 200  # the same idempotency key: the same command, not a new one
    return command_view(cmd)


@router.get(
    "/{device}/commands",
    response_model=list[CommandRecord],
    responses=_NOT_FOUND,
    summary="A device's commands, newest first (audit log)",
)
async def list_commands(
    device: DeviceIdPath,
    request: Request,
    services: ServicesDep,
    settings: SettingsDep,
    caller: CallerDep,
    tenant: NameQuery = "acme",
    plant: NameQuery | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    if not caller.may_see(tenant):
        raise HTTPException(404, "no such tenant")
    service = _service(request)
    target = await resolve_device(
        services, tenant, plant or settings.plant, device, None, commands=service
    )
    await _check_type(services, caller, target)
    found = service.log.list_for(target.tenant, target.plant, target.machine, limit)
    return [command_view(c) for c in found if c["device"]["line"] == target.line]


@router.get(
    "/{device}/commands/{command_id}",
    response_model=CommandRecord,
    responses=_NOT_FOUND,
    summary="One command with its history",
)
async def get_command(
    device: DeviceIdPath,
    command_id: Annotated[str, Path(max_length=64)],
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    tenant: NameQuery = "acme",
) -> dict[str, Any]:
    cmd = _service(request).log.get(tenant, command_id) if caller.may_see(tenant) else None
    plant, line, machine = parse_device_id(device)
    named = {"plant": plant, "line": line, "machine": machine}
    if cmd is None or any(v is not None and cmd["device"][k] != v for k, v in named.items()):
        raise HTTPException(404, "no such command")
    d = cmd["device"]
    await _check_type(services, caller, Target(tenant, d["plant"], d["line"], d["machine"]))
    return command_view(cmd)


async def _check_type(services: Any, caller: Caller, target: Target) -> None:
    """An application's key sees only devices of its device types: others answer 404."""
    if caller.device_types and not caller.may_see_type(
        await services.device_type_at(target.tenant, target.plant, target.line, target.machine)
    ):
        raise HTTPException(404, "no such device")
