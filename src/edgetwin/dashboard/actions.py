"""What a page's buttons do, behind the server-side check and into the audit log.

Each function first checks the click with :func:`edgetwin.dashboard.access.authorize` (a valid
session, operator or admin, the target's tenant one of the caller's), then acts through the
cloud's services in-process, and records the outcome in the audit log with the same action
names, targets and outcomes as the API's routes (``command``: ``plant/line/machine:NAME``,
``queued``; ``fault``: ``plant:name=on|off``, ``sent``). The user is told why when nothing was
sent.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from nicegui import ui

from edgetwin.cloud.commands import CommandService, Target
from edgetwin.cloud.commands.rows import command_view
from edgetwin.core.errors import EdgetwinError
from edgetwin.dashboard import access, context

COMMAND_TTL_S: Final = 30.0


def create_command(
    commands: CommandService, target: Target, name: str, ttl_s: float = COMMAND_TTL_S
) -> dict[str, Any] | str:
    """Send the device command ``name`` (no arguments) to ``target``.

    Returns:
        the command as ``GET .../commands/{id}`` answers it, or why it was not sent.
    """
    where = f"{target.plant}/{target.line}/{target.machine}:{name}"
    who = access.authorize("command", where, target.tenant)
    if who is None:
        return "refused"
    try:
        cmd, _ = commands.create(target, name, {}, ttl_s, f"dashboard-{uuid.uuid4()}", who.name)
    except EdgetwinError as exc:  # the command log's database is out of reach
        access.audit(who, "command", where, "failed", tenant=target.tenant, detail=str(exc)[:200])
        ui.notify(f"{name} not sent: {exc}", type="negative")
        return str(exc)
    access.audit(who, "command", where, "queued", tenant=target.tenant, detail=f"id={cmd['id']}")
    return command_view(cmd)


def publish_fault(tenant: str, topic: str, what: str, payload: dict[str, Any]) -> bool | None:
    """Publish a fault switch's ``payload`` on ``topic`` of ``tenant``; ``what`` names it in the
    audit log (``plant:name=on``).

    Returns:
        True when sent, False when the plant's broker is not reachable, None when refused.
    """
    who = access.authorize("fault", what, tenant)
    if who is None:
        return None
    sent = context.get().link.publish(topic, payload)
    outcome = "sent" if sent else "broker unreachable"
    access.audit(who, "fault", what, outcome, tenant=tenant)
    return sent
