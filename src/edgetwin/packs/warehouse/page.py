"""The warehouse's dashboard page (``/warehouse``): the machine in 3D moving live, the rack with
each cookie's state, the motors' health and time to failure, power against the supply's limit,
the PackML state, alerts and orders; and, for operators and admins only, the control panel
(orders, e-stop, reset, initialise, replace a motor). Each click is checked on the server
(:func:`edgetwin.dashboard.access.authorize`) and audited like the API's routes.

The scene follows the device's retained snapshot (four times a second, from the cloud's plant
link); the rack, the motors, alerts and orders come from the relational state (every second).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from nicegui import ui

from edgetwin.cloud.live import dashboard_services
from edgetwin.core.errors import EdgetwinError
from edgetwin.core.topics import command_topic
from edgetwin.dashboard import access, context, theme
from edgetwin.dashboard.frame import frame
from edgetwin.dashboard.pages import PageSpec
from edgetwin.dashboard.widgets import LiveIndicator, StatCard, StatusBadge, card, section
from edgetwin.dashboard.widgets import page_subscription as subscribe
from edgetwin.packs.warehouse import reads, service
from edgetwin.packs.warehouse.analytics_page import analytics_page
from edgetwin.packs.warehouse.components import POWERED, SLOTS, SUPPLY_LIMIT_W
from edgetwin.packs.warehouse.device_types import CONTROLLER, LINE
from edgetwin.packs.warehouse.scene import COOKIE_COLORS, WarehouseScene
from edgetwin.packs.warehouse.schemas import HardwareStates, Inventory
from edgetwin.packs.warehouse.sim import STATUS_SOURCE

SCENE_S: Final = 0.25  # the snapshot arrives four times a second
REFRESH_S: Final = 1.0
STATE_COLORS: Final = {
    "Idle": "positive",
    "Execute": "info",
    "Aborted": "negative",
    "Aborting": "negative",
    "Stopped": "warning",
    "Resetting": "info",
}
CMD_COLORS: Final = {"succeeded": "positive", "failed": "negative", "expired": "negative"}
FLAVORS: Final = ("CHOCO", "VANILLA", "STRAWBERRY")


def _gauge() -> ui.echart:
    return (
        ui.echart(
            {
                "series": [
                    {
                        "type": "gauge",
                        "min": 0,
                        "max": SUPPLY_LIMIT_W,
                        "radius": "95%",
                        "axisLine": {
                            "lineStyle": {
                                "width": 12,
                                "color": [[0.6, "#16a34a"], [0.85, "#ea580c"], [1, "#dc2626"]],
                            }
                        },
                        "pointer": {"itemStyle": {"color": theme.TEXT}},
                        "axisLabel": {"color": theme.MUTED, "fontSize": 10},
                        "splitLine": {"length": 10},
                        "detail": {
                            "formatter": "{value} W",
                            "color": theme.TEXT,
                            "fontSize": 18,
                            "offsetCenter": [0, "65%"],
                        },
                        "title": {"color": theme.MUTED, "fontSize": 11, "offsetCenter": [0, "90%"]},
                        "data": [{"value": 0, "name": f"of {SUPPLY_LIMIT_W:g} W supply"}],
                    }
                ],
            }
        )
        .classes("w-full h-56")
        .props('data-testid="wh-power"')
    )


class MotorCard:
    """One powered component: health bar, time to failure, current, wear counters."""

    def __init__(self, motor: str) -> None:
        with card().classes("p-3 gap-1 min-w-0").props(f'data-testid="motor-{motor}"'):
            with ui.row().classes("w-full items-center no-wrap"):
                ui.label(motor).classes("font-semibold et-mono text-sm")
                ui.space()
                self.ttf = StatusBadge("–", testid=f"motor-{motor}-ttf")
            self.bar = ui.linear_progress(1.0, show_value=False, color="positive").props("rounded")
            self.line = ui.label("").classes("et-sub")

    def set(self, health: float, ttf_h: float, current_a: float, stops: int, spikes: int) -> None:
        color = "positive" if health >= 0.8 else "warning" if health >= 0.5 else "negative"
        self.bar.set_value(health)
        self.bar.props(f"color={color}")
        self.ttf.set(f"TTF {ttf_h:.2f} h", color, f"{ttf_h:.3f}")
        self.line.set_text(
            f"health {health:.3f} · {current_a:.2f} A · {stops} stops · {spikes} spikes"
        )


class SlotCard:
    """One rack slot: its carrier and its cookie's state."""

    def __init__(self, slot: str) -> None:
        with card().classes("p-3 gap-1 min-w-0").props(f'data-testid="slot-{slot}"') as self.box:
            with ui.row().classes("w-full items-center no-wrap"):
                ui.label(slot).classes("text-lg font-semibold et-mono")
                ui.space()
                self.state = StatusBadge("–", testid=f"slot-{slot}-state")
            self.line = ui.label("").classes("et-sub et-mono")

    def set(self, carrier: str | None, cookie: Any) -> None:
        if cookie is not None:
            color = COOKIE_COLORS.get(cookie.state, "#ffffff")
            self.state.set(cookie.state, "secondary", cookie.state)
            self.state.badge.style(f"background: {color} !important; color: #0a1526")
            self.line.set_text(f"{cookie.id} · {cookie.flavor}")
        else:
            self.state.badge.style(replace="")
            self.state.set("EMPTY" if carrier else "OUT", "grey-8", "empty" if carrier else "out")
            self.line.set_text(f"{carrier} (empty)" if carrier else "carrier out of the rack")


async def warehouse_page() -> None:
    ctx = context.get()
    tenant, plant = ctx.settings.tenant, ctx.settings.plant
    store, commands, link, auth = service.active()
    hub, _ = dashboard_services()
    operator = access.may_command()  # a viewer's page has no control panel

    with frame("/warehouse", "Warehouse"):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Warehouse").classes("text-2xl font-semibold")
            ui.label("HBW · conveyor with oven and light barriers · VGR").classes("et-sub")
            ui.space()
            state = StatusBadge("no report", testid="wh-state")
            estop = StatusBadge("", testid="wh-estop")
            live = LiveIndicator("wh-live")
        with ui.row().classes("w-full gap-4 no-wrap items-stretch"):
            with card().classes("p-2"):
                view = ui.scene(
                    width=900, height=430, grid=False, background_color=theme.BACKGROUND
                ).props('data-testid="wh-scene"')
                view.move_camera(
                    x=-2.0, y=-4.6, z=4.6, look_at_x=-3.3, look_at_y=2.2, look_at_z=0.6, duration=0
                )
                model = WarehouseScene(view)
            with ui.column().classes("gap-3 grow min-w-[260px] [&>*]:w-full"):
                with card().classes("p-3 gap-0"):
                    ui.label("Power").classes("et-caption")
                    gauge = _gauge()
                energy = StatCard("Energy", "Wh", testid="wh-energy", icon="bolt")
                done = StatCard("Orders done", testid="wh-orders", icon="task_alt")
        section("Inventory", "the rack A1..C3 (HBW X columns 1..3, rows A..C top to bottom)")
        with ui.grid(columns=3).classes("w-full gap-3"):
            slots = {s: SlotCard(s) for s in SLOTS}
        elsewhere = ui.label("").classes("et-sub").props('data-testid="wh-elsewhere"')
        last: ui.label | None = None
        if operator:
            section("Control", "orders and maintenance go to the controller as device commands")
            last = _control_panel(lambda name, args: send(name, args))
        section("Motors", "health 1 new .. 0; time to failure = running hours left to health 0.5")
        with ui.grid().classes("w-full gap-3 grid-cols-2 md:grid-cols-5"):
            motors = {m: MotorCard(m) for m in POWERED}
        with ui.grid().classes("w-full gap-4 grid-cols-1 lg:grid-cols-2"):
            with ui.column().classes("gap-2 min-w-0"):
                section("Alerts", "open ones; all in the analytics")
                alert_box = ui.column().classes("w-full gap-1").props('data-testid="wh-alerts"')
            with ui.column().classes("gap-2 min-w-0"):
                section("Orders", "newest first")
                order_box = (
                    ui.column().classes("w-full gap-1").props('data-testid="wh-orders-list"')
                )

    def send(name: str, args: dict[str, Any]) -> None:
        where = f"{plant}/{LINE}/{CONTROLLER}:{name}"
        who = access.authorize("command", where, tenant)
        if who is None:
            return
        try:
            if name == "ESTOP":
                cmd = service.emergency_stop(commands, store, auth, link, who, tenant, plant)
            else:
                cmd = service.send(commands, store, auth, who, tenant, plant, name, args)
        except EdgetwinError as exc:
            ui.notify(f"{name} not sent: {exc}", type="negative")
            return
        show_command(cmd)

    def show_command(cmd: dict[str, Any]) -> None:
        if last is None:
            return
        st = cmd["state"]
        error = (cmd.get("detail") or {}).get("error")
        last.set_text(f"{cmd['name']} {cmd['id'][:8]}: {st}" + (f" ({error})" if error else ""))
        last.props(f'data-state="{st}"')
        last.classes(remove="text-positive text-negative")
        if st in CMD_COLORS:
            last.classes(f"text-{CMD_COLORS[st]}")

    sub = subscribe(hub, [f"{command_topic(tenant, plant, LINE, CONTROLLER)}/+"])

    def drain() -> None:
        while not sub.queue.empty():
            ev = sub.queue.get_nowait()
            if ev["type"] == "command":
                show_command(ev["data"])

    def show_snapshot() -> None:
        snap = link.status(tenant, plant, STATUS_SOURCE)
        if snap is None:
            state.set("OFFLINE", "grey-7", "offline")
            return
        model.show(snap)
        name = str(snap["machine_state"])
        state.set(name, STATE_COLORS.get(name, "grey-7"), name)
        if snap["latched"]:
            estop.set(f"E-STOP by {snap.get('latched_by') or '?'}", "negative", "latched")
        else:
            estop.set("e-stop clear", "blue-grey-8", "clear")
        counters = snap.get("counters") or {}
        n = sum(int(v) for k, v in counters.items() if k.startswith("order_"))
        done.set(str(n), f"{snap.get('shipped', 0)} shipped · {snap.get('queue', 0)} waiting")
        watts = round(float(snap["power_w"]), 1)
        gauge.options["series"][0]["data"][0]["value"] = watts
        gauge.update()

    async def refresh() -> None:
        try:
            inv, hw, open_alerts, orders = await asyncio.to_thread(
                lambda: (
                    reads.inventory(store, tenant, plant),
                    reads.hardware(store, tenant, plant),
                    reads.alerts(store, tenant, plant, open_only=True, limit=20),
                    reads.orders(store, tenant, plant, limit=8),
                )
            )
        except Exception as exc:  # noqa: BLE001 - the page says why and tries again
            live.failed(f"{type(exc).__name__}: {exc}"[:160])
            return
        _show_state(inv, hw, slots, motors, elsewhere, energy, done)
        _rows(
            alert_box,
            [
                f"{a.severity.upper()} · {a.message} · since {a.raised_at[11:19]}"
                for a in open_alerts
            ],
            "no open alerts",
        )
        _rows(
            order_box,
            [
                f"{o.created_at[11:19]} {o.kind} {o.slot or ''} · {o.state}"
                + (f" → {o.final_state}" if o.final_state else "")
                + (f" ({o.reason})" if o.reason else "")
                + f" · {o.requested_by}"
                for o in orders
            ],
            "no orders yet",
        )
        live.ok()

    show_snapshot()
    await refresh()
    ui.timer(SCENE_S, show_snapshot)
    ui.timer(0.2, drain)
    ui.timer(REFRESH_S, refresh)


def _show_state(
    inv: Inventory,
    hw: HardwareStates,
    slots: dict[str, SlotCard],
    motors: dict[str, MotorCard],
    elsewhere: ui.label,
    energy: StatCard,
    done: StatCard,
) -> None:
    for s in inv.slots:
        slots[s.slot].set(s.carrier, s.cookie)
    away = ", ".join(f"{c.id} {c.state} at {c.location}" for c in inv.elsewhere)
    elsewhere.set_text(f"{inv.stock} in the rack" + (f" · in transit: {away}" if away else ""))
    for c in hw.components:
        if c.id in motors:
            motors[c.id].set(c.health, c.ttf_h, c.current_a, c.stops, c.spikes)
    energy.set("–" if hw.energy_wh is None else f"{hw.energy_wh:.2f}", "since the device started")


def _rows(box: ui.column, lines: list[str], empty: str) -> None:
    box.clear()
    with box:
        for text in lines or [empty]:
            ui.label(text).classes("et-sub et-mono")


def _control_panel(send: Callable[[str, dict[str, Any]], None]) -> ui.label:
    """Orders and maintenance; returns the label that shows the last command's lifecycle."""
    with card().classes("p-4 w-full gap-3").props('data-testid="wh-control"'):
        with ui.row().classes("items-end gap-3 w-full"):
            slot = ui.select(list(SLOTS), value="A1", label="slot").classes("w-24")
            slot.props('data-testid="wh-slot"')
            flavor = ui.select(list(FLAVORS), value="CHOCO", label="flavour").classes("w-36")
            for name, label, icon, with_flavor in (
                ("STORE", "Store", "move_to_inbox", True),
                ("PROCESS", "Process", "local_fire_department", False),
                ("SHIP", "Ship", "local_shipping", False),
            ):

                def order(n: str = name, f: bool = with_flavor) -> None:
                    args = {"slot": slot.value} | ({"flavor": flavor.value} if f else {})
                    send(n, args)

                ui.button(label, icon=icon, on_click=order).props(
                    f'data-testid="wh-{name.lower()}" unelevated'
                )
            ui.space()
            ui.button(
                "Initialise", icon="restart_alt", on_click=lambda: send("INITIALISE", {})
            ).props('data-testid="wh-initialise" outline')
            ui.button("Reset", icon="lock_open", on_click=lambda: send("RESET", {})).props(
                'data-testid="wh-reset" outline color=warning'
            )
            ui.button("E-STOP", icon="front_hand", on_click=lambda: send("ESTOP", {})).props(
                'data-testid="wh-estop-button" color=negative size=lg unelevated'
            )
        with ui.row().classes("items-end gap-3 w-full"):
            motor = ui.select(list(POWERED), value=POWERED[0], label="motor").classes("w-48")
            ui.button(
                "Replace motor",
                icon="build",
                on_click=lambda: send("REPLACE_MOTOR", {"motor": motor.value}),
            ).props('data-testid="wh-replace" outline')
            ui.space()
            last = ui.label("no command yet").classes("et-sub et-mono")
            last.props('data-testid="wh-command" data-state=""')
    return last


def pages() -> list[PageSpec]:
    """The warehouse's dashboard pages (``Pack.pages``)."""
    return [
        PageSpec("/warehouse", "Warehouse", warehouse_page),
        PageSpec("/warehouse/analytics", "Warehouse analytics", analytics_page),
    ]
