"""``/api/v1/devices/{id}/commands``: the request to create a command and a command's view."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from edgetwin.cloud.commands.lifecycle import CommandState
from edgetwin.cloud.schemas.base import Public
from edgetwin.core.ids import SEGMENT_PATTERN


class CommandCreate(BaseModel):
    """A command for a device: its name, arguments, time to live (seconds) and an optional
    idempotency key (the same key for the same device answers the existing command)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=SEGMENT_PATTERN, examples=["REBOOT"])]
    args: dict[str, Any] = Field(default_factory=dict)
    ttl_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] = 60.0
    idempotency_key: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class CommandDevice(Public):
    """The device a command is for."""

    tenant: str
    plant: str
    line: str
    machine: str


class CommandStep(Public):
    """One move of a command's lifecycle: the state, when (ISO 8601 UTC, milliseconds), who
    reported it (``broker``, ``cloud``, an edge id or the requester) and the detail it carried,
    if any."""

    state: CommandState
    at: str = Field(examples=["2026-01-15T10:30:00.123Z"])
    by: str
    detail: dict[str, Any] | None = Field(default=None, exclude_if=lambda v: v is None)


class CommandRecord(Public):
    """A command with its audit trail. Times are ISO 8601 UTC with milliseconds, as everywhere
    in the API; ``detail`` merges the details of every report (e.g. a reboot's new uptime);
    ``history`` lists each move, oldest first."""

    id: str
    device: CommandDevice
    name: str
    args: dict[str, Any]
    ttl_s: float
    idempotency_key: str | None
    requested_by: str
    state: CommandState
    created_at: str
    updated_at: str
    expires_at: str
    detail: dict[str, Any]
    history: list[CommandStep]
