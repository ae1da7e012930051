"""The warehouse's cloud services that the API and the pages share: sending the controller's
commands (audited, each order recorded), the e-stop straight to the controller, and following
the device's snapshot into the relational state.

An order is the controller's device command (``STORE``, ``PROCESS``, ``SHIP``) created through
the platform's command service, so it has the platform's lifecycle (queued -> sent -> delivered
-> succeeded | failed | expired) and is executed at most once; it is also recorded in the
warehouse's ``orders`` table, whose state follows what the controller reports.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from edgetwin.cloud.auth import Authenticator
from edgetwin.cloud.commands import CommandService, Target
from edgetwin.cloud.commands.rows import command_view
from edgetwin.cloud.plant_link import PlantLink
from edgetwin.core.security import Caller
from edgetwin.packs.warehouse.device_types import CONTROLLER, LINE, ORDER_TIMEOUT_S
from edgetwin.packs.warehouse.sim import STATUS_SOURCE, estop_topic
from edgetwin.packs.warehouse.store import WarehouseStore, now_ms

SYNC_S: Final = 1.0
SYNC_LOOP: Final = "warehouse-sync"
COMMAND_TTL_S: Final = 120.0
ORDERS: Final = {"STORE": "store", "PROCESS": "process", "SHIP": "ship"}

_active: dict[str, Any] = {}  # the running cloud's store and command service, for the pages


def activate(
    store: WarehouseStore, commands: CommandService, link: PlantLink, auth: Authenticator
) -> None:
    """Make these the running cloud's (the cloud part's lifespan does, for the pages)."""
    _active.update(store=store, commands=commands, link=link, auth=auth)


def deactivate() -> None:
    _active.clear()


def active() -> tuple[WarehouseStore, CommandService, PlantLink, Authenticator]:
    """The running cloud's warehouse store, command service, plant link and authenticator.

    Raises:
        RuntimeError: no cloud with the warehouse pack runs in this process.
    """
    if not _active:
        raise RuntimeError("the warehouse's cloud part is not running")
    return _active["store"], _active["commands"], _active["link"], _active["auth"]


def send(
    commands: CommandService,
    store: WarehouseStore,
    auth: Authenticator,
    who: Caller,
    tenant: str,
    plant: str,
    name: str,
    args: dict[str, Any],
) -> dict[str, Any]:
    """Create the controller's command ``name`` with ``args`` for ``who``, record an order in
    the store, audit it; the command's record (as ``GET .../commands/{id}`` answers it).

    Raises:
        StoreUnavailableError: the command log cannot be written now (nothing was sent).
    """
    target = Target(tenant, plant, LINE, CONTROLLER)
    where = f"{plant}/{LINE}/{CONTROLLER}:{name}"
    ttl = ORDER_TIMEOUT_S if name in ORDERS else COMMAND_TTL_S
    try:
        cmd, _ = commands.create(target, name, args, ttl, None, who.name)
    except Exception as exc:
        auth.audit(who, "command", where, "failed", tenant=tenant, detail=str(exc)[:200])
        raise
    detail = f"id={cmd['id']}" + "".join(f" {k}={v}" for k, v in sorted(args.items()))
    auth.audit(who, "command", where, "queued", tenant=tenant, detail=detail)
    if name in ORDERS:
        store.add_order(
            tenant,
            plant,
            cmd["id"],
            ORDERS[name],
            args.get("slot"),
            args.get("flavor"),
            who.name,
            now_ms(),
        )
    return command_view(cmd)


def emergency_stop(
    commands: CommandService,
    store: WarehouseStore,
    auth: Authenticator,
    link: PlantLink,
    who: Caller,
    tenant: str,
    plant: str,
) -> dict[str, Any]:
    """Press the e-stop for ``who``: straight to the controller's e-stop topic, and as the
    ``ESTOP`` command for its record; audited with who pressed it."""
    direct = link.publish(estop_topic(tenant, plant), {"by": who.name})
    auth.audit(
        who,
        "estop",
        f"{plant}/{LINE}/{CONTROLLER}:ESTOP",
        "sent" if direct else "broker unreachable",
        tenant=tenant,
        detail=f"pressed by {who.name}",
    )
    return send(commands, store, auth, who, tenant, plant, "ESTOP", {"by": who.name})


async def follow(
    link: PlantLink, store: WarehouseStore, failed: Any, period_s: float = SYNC_S
) -> None:
    """Apply each plant's newest warehouse snapshot every ``period_s``; a snapshot that cannot
    be applied is counted (``failed(loop, what, exc)``) and skipped."""
    applied: dict[str, int] = {}
    suffix = f"/status/{STATUS_SOURCE}"
    while True:
        for topic, snap in list(link.statuses.items()):
            parts = topic.split("/")
            if not topic.endswith(suffix) or len(parts) != 5 or applied.get(topic) == id(snap):
                continue
            applied[topic] = id(snap)
            if not snap.get("online", False):
                continue
            try:
                await asyncio.to_thread(store.apply, parts[1], parts[2], snap, now_ms())
            except Exception as exc:  # noqa: BLE001 - one bad snapshot must not end the loop
                failed(SYNC_LOOP, f"snapshot of {parts[1]}/{parts[2]}", exc)
        await asyncio.sleep(period_s)
