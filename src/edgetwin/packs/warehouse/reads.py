"""What the API and the pages read from the warehouse's tables, as the API's models.

Each function takes the :class:`~.store.WarehouseStore` and a tenant and plant; it runs one
short read (blocking: the cloud calls it from a worker thread). A plant whose warehouse never
reported answers an empty rack and no components, not an error.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select

from edgetwin.core.point import format_ts, ms_to_datetime
from edgetwin.packs.warehouse import tables as t
from edgetwin.packs.warehouse.components import COMPONENTS, SLOTS, SUPPLY_LIMIT_W
from edgetwin.packs.warehouse.schemas import (
    AlertOut,
    ComponentSpecOut,
    ComponentState,
    CookieOut,
    HardwareStates,
    Inventory,
    OrderOut,
    SlotOut,
)
from edgetwin.packs.warehouse.store import WarehouseStore
from edgetwin.packs.warehouse.sync import GONE


def iso(ms: int | None) -> str | None:
    """Unix ms as ISO 8601 UTC; None stays None."""
    return None if ms is None else format_ts(ms_to_datetime(ms))


def _mine(table: Table, tenant: str, plant: str) -> Any:
    return select(table).where(table.c.tenant == tenant, table.c.plant == plant)


def specs() -> list[ComponentSpecOut]:
    """The 14 components' spec sheets (data of :mod:`.components`)."""
    return [ComponentSpecOut.model_validate(c.public()) for c in COMPONENTS]


def inventory(store: WarehouseStore, tenant: str, plant: str) -> Inventory:
    """The rack slot by slot (carrier, cookie and its state) and the cookies elsewhere."""
    with store.engine.connect() as conn:
        slots = {r.slot: r for r in conn.execute(_mine(t.slots, tenant, plant))}
        cookies = list(
            conn.execute(_mine(t.cookies, tenant, plant).where(t.cookies.c.location.not_in(GONE)))
        )
        updated = conn.execute(
            select(t.machine.c.updated_ms).where(
                t.machine.c.tenant == tenant, t.machine.c.plant == plant
            )
        ).scalar_one_or_none()
    by_place = {c.location: c for c in cookies}

    def cookie(r: Any) -> CookieOut:
        return CookieOut(id=r.id, flavor=r.flavor, state=r.state, location=r.location)

    out = []
    for name, (x, y) in SLOTS.items():
        row = slots.get(name)
        here = by_place.get(name)
        out.append(
            SlotOut(
                slot=name,
                x_mm=x,
                y_mm=y,
                carrier=row.carrier if row else None,
                cookie=cookie(here) if here else None,
            )
        )
    elsewhere = [cookie(c) for c in cookies if c.location not in SLOTS]
    return Inventory(
        tenant=tenant,
        plant=plant,
        updated_at=iso(updated),
        slots=out,
        elsewhere=elsewhere,
        stock=sum(1 for s in out if s.cookie),
    )


def hardware(store: WarehouseStore, tenant: str, plant: str) -> HardwareStates:
    """The machine and its powered components as last reported."""
    with store.engine.connect() as conn:
        m = conn.execute(_mine(t.machine, tenant, plant)).one_or_none()
        comps = list(conn.execute(_mine(t.components, tenant, plant).order_by(t.components.c.id)))
    components = [
        ComponentState(
            id=c.id,
            subsystem=c.subsystem,
            current_a=c.current_a,
            health=c.health,
            ttf_h=c.ttf_h,
            energy_wh=c.energy_wh,
            running_s=c.running_s,
            spikes=c.spikes,
            stops=c.stops,
            replaced_at=iso(c.replaced_ms),
        )
        for c in comps
    ]
    if m is None:
        return HardwareStates(
            tenant=tenant,
            plant=plant,
            online=False,
            updated_at=None,
            machine_state=None,
            latched=False,
            latched_by=None,
            axes={},
            power_w=None,
            supply_limit_w=SUPPLY_LIMIT_W,
            energy_wh=None,
            components=components,
        )
    return HardwareStates(
        tenant=tenant,
        plant=plant,
        online=m.online,
        updated_at=iso(m.updated_ms),
        machine_state=m.machine_state,
        latched=m.latched,
        latched_by=m.latched_by,
        axes={str(k): float(v) for k, v in dict(m.axes).items()},
        power_w=m.power_w,
        supply_limit_w=SUPPLY_LIMIT_W,
        energy_wh=m.energy_wh,
        components=components,
    )


def alerts(
    store: WarehouseStore, tenant: str, plant: str, *, open_only: bool = False, limit: int = 100
) -> list[AlertOut]:
    """Alerts, newest first; ``open_only``: those not cleared."""
    a = t.alerts.c
    sel = select(t.alerts).where(a.tenant == tenant, a.plant == plant)
    if open_only:
        sel = sel.where(a.cleared_ms.is_(None))
    with store.engine.connect() as conn:
        rows = list(conn.execute(sel.order_by(a.raised_ms.desc(), a.id.desc()).limit(limit)))
    return [
        AlertOut(
            id=r.id,
            component=r.component,
            kind=r.kind,
            severity=r.severity,
            message=r.message,
            value=r.value,
            raised_at=iso(r.raised_ms) or "",
            cleared_at=iso(r.cleared_ms),
        )
        for r in rows
    ]


def orders(store: WarehouseStore, tenant: str, plant: str, *, limit: int = 50) -> list[OrderOut]:
    """Orders, newest first."""
    o = t.orders.c
    sel = _mine(t.orders, tenant, plant).order_by(o.created_ms.desc()).limit(limit)
    with store.engine.connect() as conn:
        rows = list(conn.execute(sel))
    return [
        OrderOut(
            id=r.id,
            kind=r.kind,
            slot=r.slot,
            flavor=r.flavor,
            cookie=r.cookie,
            state=r.state,
            reason=r.reason,
            final_state=r.final_state,
            requested_by=r.requested_by,
            created_at=iso(r.created_ms) or "",
            ended_at=iso(r.ended_ms),
        )
        for r in rows
    ]
