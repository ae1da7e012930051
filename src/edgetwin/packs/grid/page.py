"""The grid's dashboard tabs.

- ``/iot`` "IoT overview": every device type of the registry with its applications, the message
  rate of each stream subject (``iot.raw`` ... ``iot.smart_breaker.enriched``), and the devices
  online and offline per type.
- ``/grid`` "Smart grid monitor": read with a grid application's scope (:mod:`.views`): per
  breaker the three phases' voltage, current and cos φ, P/Q/S, power factor, frequency,
  temperature, load, trips and faults; open, close and reset buttons for operators (device
  commands through the cloud's command service, checked and audited as the API's).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nicegui import ui

from edgetwin.cloud.commands import Target
from edgetwin.cloud.live import dashboard_services
from edgetwin.core.errors import EdgetwinError
from edgetwin.dashboard import access, actions, context, fmt
from edgetwin.dashboard.cache import shared
from edgetwin.dashboard.frame import frame
from edgetwin.dashboard.pages import PageSpec
from edgetwin.dashboard.widgets import LiveIndicator, StatCard, StatusBadge, card, section
from edgetwin.packs.grid.views import (
    BreakerView,
    Rates,
    app_scope,
    breaker_view,
    breakers,
    presence,
)
from edgetwin.streams.subjects import ENRICHED_STREAM, INGEST_STREAM

log = logging.getLogger("edgetwin.grid.page")
POSITION_COLORS = {"CLOSED": "positive", "OPEN": "grey-7", "TRIPPED": "negative"}
SUBJECTS = ("iot.raw", "iot.trends", "iot.status", "iot.enriched", "iot.smart_breaker.enriched")
_nats: dict[str, Any] = {}


async def subject_totals() -> dict[str, int]:
    """Messages held per subject on both streams (one connection per cloud process).

    Raises:
        EdgetwinError: the stream backbone cannot be reached.
    """
    from edgetwin.streams.setup import connect

    settings = context.get().settings
    try:
        nc = _nats.get("nc")
        if nc is None or nc.is_closed:
            nc = _nats["nc"] = await connect(settings, "dashboard", max_reconnect_attempts=3)
        js = nc.jetstream(timeout=2.0)
        totals: dict[str, int] = {}
        for stream in (INGEST_STREAM, ENRICHED_STREAM):
            info = await js.stream_info(stream, subjects_filter=">")
            totals.update(info.state.subjects or {})
    except Exception as exc:
        _nats.pop("nc", None)
        raise EdgetwinError(f"stream backbone unreachable: {type(exc).__name__}: {exc}") from exc
    return totals


def _registry() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from edgetwin.cloud.registries.store import open_seeded

    store = _nats.get("registry")
    if store is None:
        store = _nats["registry"] = open_seeded(context.get().settings)
    return store.device_types(), store.apps()


async def overview_page() -> None:
    ctx = context.get()
    tenant, plant = ctx.settings.tenant, ctx.settings.plant
    viewer = access.caller()
    rates = Rates()
    with frame("/iot", "IoT overview"):
        with ui.row().classes("w-full items-center"):
            ui.label("IoT overview").classes("text-2xl font-semibold")
            ui.space()
            live = LiveIndicator()
        ui.label("device types, stream subjects and devices of every kind").classes("et-sub")
        section("Stream subjects", "messages per second over the last 30 s, and held")
        with ui.grid(columns=len(SUBJECTS)).classes("w-full gap-3"):
            cards = {
                s: StatCard(s, "msg/s", testid=f"subject-{s}", icon="stream") for s in SUBJECTS
            }
        section("Devices", "online / offline per device type")
        devices_row = ui.row().classes("w-full gap-3").props('data-testid="iot-devices"')
        section("Device types", "the registry; the applications registered for each")
        types_table = ui.table(
            columns=[{"name": n, "label": lbl, "field": n, "align": "left"} for n, lbl in (
                ("device_type", "Type"), ("name", "Name"), ("category", "Category"),
                ("apps", "Applications"), ("online", "Online"), ("offline", "Offline"))],
            rows=[], row_key="device_type",
        ).classes("w-full").props('data-testid="iot-types" flat dense')  # fmt: skip

    async def refresh() -> None:
        try:
            devices = await shared.get(
                ("devices", tenant, plant), 1.0, lambda: ctx.services.devices(tenant, plant)
            )
            types, apps = await asyncio.to_thread(_registry)
        except EdgetwinError as exc:
            live.failed(str(exc))
            return
        mine = [d for d in devices if viewer.may_see(str(d["tenant"]))]
        counts = presence(mine)
        devices_row.clear()
        with devices_row:
            for kind, (on, off) in counts.items():
                StatCard(kind, "online", testid=f"devices-{kind}").set(f"{on}", f"{off} offline")
        visible_apps = [a for a in apps if viewer.may_see(a["tenant"])]
        types_table.rows = [{
            "device_type": t["device_type"], "name": t["device_type_name"],
            "category": t["device_category"],
            "apps": ", ".join(a["name"] for a in visible_apps
                              if t["device_type"] in a["device_types"]) or "–",
            "online": counts.get(t["device_type"], (0, 0))[0],
            "offline": counts.get(t["device_type"], (0, 0))[1],
        } for t in types]  # fmt: skip
        types_table.update()
        try:
            totals = await subject_totals()
        except EdgetwinError as exc:
            live.failed(str(exc))
            return
        per_s = rates.add(totals)
        for s, c in cards.items():
            c.set(fmt.decimal(per_s.get(s, 0.0), 2), f"{fmt.integer(totals.get(s, 0))} held")
        live.ok()

    await refresh()
    ui.timer(2.0, refresh)


class BreakerCard:
    """One breaker: its values, its state, and the operator's buttons."""

    def __init__(self, machine: str, commands: Any, tenant: str, plant: str, line: str) -> None:
        self.machine = machine
        with card().classes("p-4 gap-2 w-full").props(f'data-testid="breaker-{machine}"'):
            with ui.row().classes("w-full items-center no-wrap"):
                ui.label(machine).classes("text-lg font-semibold")
                ui.space()
                self.online = StatusBadge("…", testid=f"breaker-{machine}-online")
                self.position = StatusBadge("…", testid=f"breaker-{machine}-position")
            self.phases = ui.table(
                columns=[{"name": n, "label": lbl, "field": n, "align": "right"} for n, lbl in (
                    ("phase", "Phase"), ("v", "V"), ("a", "A"), ("pf", "cos φ"))],
                rows=[], row_key="phase",
            ).classes("w-full").props("flat dense")  # fmt: skip
            self.power = ui.label("").classes("font-semibold")
            self.grid = ui.label("").classes("et-sub")
            self.protection = (
                ui.label("").classes("et-sub").props(f'data-testid="breaker-{machine}-protection"')
            )
            self.command = ui.label("").classes("et-sub")
            if access.may_command():
                target = Target(tenant, plant, line, machine)

                def send(name: str) -> None:
                    sent = actions.create_command(commands, target, name)
                    self.command.set_text(
                        f"{name}: {sent['state']}" if isinstance(sent, dict) else f"{name}: {sent}"
                    )

                with ui.row().classes("gap-2"):
                    for name, icon in (("OPEN", "power_off"), ("CLOSE", "power"),
                                       ("RESET_TRIP", "restart_alt")):  # fmt: skip
                        ui.button(name.replace("_", " ").lower(), icon=icon,
                                  on_click=lambda _e, n=name: send(n)).props(
                            f'dense outline data-testid="breaker-{machine}-{name.lower()}"')  # fmt: skip

    def show(self, b: BreakerView) -> None:
        self.online.set(*(("ONLINE", "positive", "online") if b.online
                          else ("OFFLINE", "grey-7", "offline")))  # fmt: skip
        self.position.set(b.position, POSITION_COLORS.get(b.position, "grey-7"), b.position.lower())
        self.phases.rows = [{"phase": p, "v": fmt.decimal(v, 1), "a": fmt.decimal(a, 1),
                             "pf": fmt.decimal(pf, 3)} for p, v, a, pf in b.phases]  # fmt: skip
        self.phases.update()
        self.power.set_text(
            f"P {fmt.decimal(b.active_kw, 2)} kW · Q {fmt.decimal(b.reactive_kvar, 2)} kvar · "
            f"S {fmt.decimal(b.apparent_kva, 2)} kVA · PF {fmt.decimal(b.power_factor, 3)}"
        )
        self.grid.set_text(
            f"{fmt.decimal(b.frequency, 3)} Hz · {fmt.decimal(b.temperature, 1)} °C · "
            f"load {fmt.decimal(b.load, 0)} %"
        )
        faults = [f"ground {fmt.decimal(b.ground_fault_a, 2)} A"] + (["ARC"] if b.arc else [])
        due = " · maintenance due" if b.maintenance_due else ""
        self.protection.set_text(
            f"trips {fmt.integer(b.trips)} (last {b.last_cause.lower().replace('_', ' ')}) · "
            + " · ".join(faults)
            + due
        )


async def monitor_page() -> None:
    ctx = context.get()
    tenant, plant = ctx.settings.tenant, ctx.settings.plant
    scope = app_scope(access.caller())
    _hub, commands = dashboard_services()
    cards: dict[str, BreakerCard] = {}
    with frame("/grid", "Smart grid monitor"):
        with ui.row().classes("w-full items-center"):
            ui.label("Smart grid monitor").classes("text-2xl font-semibold")
            ui.space()
            live = LiveIndicator()
        ui.label("smart breakers only: read as an application registered for smart_breaker"
                 ).classes("et-sub")  # fmt: skip
        with ui.grid(columns=4).classes("w-full gap-3"):
            online = StatCard("Breakers online", "", testid="grid-online", icon="sensors")
            total = StatCard("Active power", "kW", testid="grid-power", icon="bolt")
            trips = StatCard("Trips", "", testid="grid-trips", icon="report")
            faults = StatCard("Open or tripped", "", testid="grid-faults", icon="warning")
        section("Breakers", "three phases line to neutral; P = Σ V·I·cos φ")
        grid = ui.grid(columns=3).classes("w-full gap-3")

    async def refresh() -> None:
        try:
            devices = await shared.get(
                ("devices", tenant, plant), 1.0, lambda: ctx.services.devices(tenant, plant)
            )
        except EdgetwinError as exc:
            live.failed(str(exc))
            return
        views = [breaker_view(d) for d in breakers(devices, scope)]
        lines = {str(d["machine"]): str(d["line"]) for d in devices}
        for b in views:
            if b.machine not in cards:
                with grid:
                    cards[b.machine] = BreakerCard(b.machine, commands, tenant, plant,
                                                   lines[b.machine])  # fmt: skip
            cards[b.machine].show(b)
        up = sum(b.online for b in views)
        online.set(f"{up} / {len(views)}", "MQTT presence (retained status, last will)")
        total.set(fmt.decimal(sum(b.active_kw or 0.0 for b in views), 1))
        trips.set(fmt.integer(sum(b.trips or 0 for b in views)), "since installation")
        faults.set(str(sum(b.position != "CLOSED" for b in views)),
                   f"{sum(b.arc for b in views)} arc, "
                   f"{sum((b.ground_fault_a or 0) >= 1.0 for b in views)} ground faults now")  # fmt: skip
        live.ok()

    await refresh()
    ui.timer(2.0, refresh)


def pages() -> list[PageSpec]:
    """The grid pack's dashboard tabs (``Pack.pages``)."""
    return [
        PageSpec("/iot", "IoT overview", overview_page),
        PageSpec("/grid", "Smart grid monitor", monitor_page),
    ]
