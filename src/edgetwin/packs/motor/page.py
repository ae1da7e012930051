"""The motor twin's page (``/motor``): a 3D motor that takes the colour of its temperature and
shakes with its vibration, live charts, the Emergency Reboot with its command's lifecycle as it
happens, and the latest alerts.

It follows the same live stream external clients get from ``WS /api/v1/live`` (the in-process
:class:`~edgetwin.cloud.live.LiveHub`), and creates commands through the cloud's command service.
The reboot button is built for operators and admins only; each click is checked and audited on
the server (:mod:`edgetwin.dashboard.actions`).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from nicegui import ui

from edgetwin.cloud.commands import CommandService, Target
from edgetwin.cloud.live import dashboard_services
from edgetwin.cloud.store import SeriesKey
from edgetwin.core.errors import EdgetwinError
from edgetwin.core.topics import command_topic, reading_topic
from edgetwin.dashboard import access, actions, charts, context, fmt, theme
from edgetwin.dashboard.frame import frame
from edgetwin.dashboard.pages import PageSpec
from edgetwin.dashboard.widgets import StatCard, StatusBadge, card, page_subscription, section
from edgetwin.packs.motor.device import DEVICE_ID
from edgetwin.packs.motor.device_types import MOTOR

DEFAULT_LINE: Final = "line-m"  # the line of the motor pack's pipeline snippet
HISTORY_S: Final = 120
WARM_C: Final = 40.0
HOT_C: Final = 50.0
SHAKE_G: Final = 1.0
STEPS: Final = ("queued", "sent", "delivered", "succeeded")
STATE_COLORS: Final = {
    "queued": "grey-7",
    "sent": "blue-7",
    "delivered": "indigo-6",
    "succeeded": "positive",
    "failed": "negative",
    "expired": "warning",
}


# The status codes' labels as the device type declares them (RUNNING, ANOMALY).
_STATUS = MOTOR.metric("status")
STATUS_LABELS: Final = dict(_STATUS.states) if _STATUS is not None else {}


def temp_color(celsius: float | None) -> str:
    """Body colour: steel below 40 °C, orange above, red above 50 °C (the reference's limits)."""
    if celsius is None:
        return "#64748b"
    if celsius > HOT_C:
        return "#ef4444"
    if celsius > WARM_C:
        return "#f97316"
    return "#94a3b8"


def build_motor(scene: ui.scene) -> tuple[Any, Any]:
    """Base, housing with cooling fins, end caps and shaft; returns (moving group, housing)."""
    scene.box(2.6, 1.6, 0.25).move(0, 0, 0.12).material("#334155")
    with scene.group() as group:
        housing = scene.cylinder(0.75, 0.75, 2.2, 48).rotate(0, 0, 1.5708).move(0, 0, 1.05)
        for i in range(7):
            scene.cylinder(0.82, 0.82, 0.06, 48).rotate(0, 0, 1.5708).move(
                -0.8 + i * 0.27, 0, 1.05
            ).material("#475569")
        scene.cylinder(0.6, 0.6, 0.15, 32).rotate(0, 0, 1.5708).move(1.17, 0, 1.05).material(
            "#1e293b"
        )
        scene.cylinder(0.12, 0.12, 0.8, 16).rotate(0, 0, 1.5708).move(1.6, 0, 1.05).material(
            "#cbd5e1"
        )
        scene.box(0.5, 0.4, 0.35).move(-0.2, 0, 1.9).material("#1e293b")  # terminal box
    return group, housing


async def motor_line(services: Any, tenant: str, plant: str, machine: str) -> str:
    """The line the motor's readings arrive on (the edge's pipeline says which), or
    :data:`DEFAULT_LINE` before it has sent any."""
    with contextlib.suppress(EdgetwinError):
        for device in await services.devices(tenant, plant):
            if device["machine"] == machine:
                return str(device["line"])
    return DEFAULT_LINE


async def motor_page() -> None:
    ctx = context.get()
    hub, commands_ = dashboard_services()
    commands: CommandService = commands_
    s = ctx.settings
    machine = DEVICE_ID.lower()
    line = await motor_line(ctx.services, s.tenant, s.plant, machine)
    target = Target(s.tenant, s.plant, line, machine)
    operator = access.may_command()  # a viewer's page has no reboot button
    state: dict[str, Any] = {"temperature": None, "vibration": 0.0, "cmd": None}
    series: dict[str, deque[tuple[float, float]]] = {
        m: deque(maxlen=HISTORY_S * 10) for m in ("temperature", "vibration", "anomaly_score")
    }
    alerts: deque[dict[str, Any]] = deque(maxlen=6)

    with frame("/motor", "Motor"):
        with ui.row().classes("w-full items-center"):
            ui.label("Motor twin").classes("text-2xl font-semibold")
            ui.label(f"{DEVICE_ID} · serial 115200 baud · 10 Hz").classes("et-sub ml-2")
            ui.space()
            badge = StatusBadge("no data", "grey-7", testid="motor-status")
        with ui.row().classes("w-full gap-4 no-wrap items-stretch"):
            with card().classes("p-2"):
                scene = ui.scene(
                    width=820, height=380, grid=False, background_color=theme.BACKGROUND
                ).props('data-testid="motor-scene"')
                scene.move_camera(x=2.3, y=-3.1, z=2.3, look_at_x=0.3, look_at_z=0.9, duration=0)
                group, housing = build_motor(scene)
            with ui.column().classes("gap-4 grow min-w-[260px] [&>*]:w-full"):
                temp_card = StatCard("Temperature", "°C", testid="motor-temp", icon="thermostat")
                vib_card = StatCard("Vibration", "g", testid="motor-vibration", icon="vibration")
                up_card = StatCard("Uptime", "s", testid="motor-uptime", icon="timer")
        section("Control", "commands travel cloud → broker → edge → serial line → firmware")
        with card().classes("p-4 w-full gap-3"):
            with ui.row().classes("items-center gap-4"):
                if operator:
                    reboot = ui.button("Emergency Reboot", icon="restart_alt", color="negative")
                    reboot.props('data-testid="reboot"').on_click(lambda: on_reboot())
                else:
                    ui.label("Commands need the operator role.").classes("et-sub")
                with ui.row().classes("items-center gap-2").props('data-testid="lifecycle"'):
                    step_badges = {
                        st: StatusBadge(st, "grey-9", testid=f"step-{st}") for st in STEPS
                    }
                cmd_state = ui.label("no command yet").classes("et-sub et-mono")
                cmd_state.props('data-testid="cmd-state" data-state=""')
            cmd_log = ui.label("").classes("et-sub et-mono")
        section("Trends", f"last {HISTORY_S} s, live")
        with ui.grid().classes("w-full gap-4 grid-cols-1 lg:grid-cols-3"):
            charts_ = {}
            for i, (metric, unit) in enumerate(
                (("temperature", "°C"), ("vibration", "g"), ("anomaly_score", "z"))
            ):
                with card().classes("p-3 min-w-0"):
                    ui.label(metric.replace("_", " ")).classes("et-caption")
                    charts_[metric] = charts.time_chart(
                        [charts.Line(metric, theme.SERIES[i], digits=2)],
                        (charts.Axis(unit),),
                        height="200px",
                        testid=f"chart-{metric}",
                    )
        section("Alerts", "raised at the edge")
        alert_box = ui.column().classes("w-full gap-1").props('data-testid="motor-alerts"')
        with alert_box:
            ui.label("no alerts").classes("et-sub")

    def show_command(cmd: dict[str, Any]) -> None:
        st = cmd["state"]
        reached = {h["state"] for h in cmd["history"]}
        for step, b in step_badges.items():
            done = step in reached
            b.set(step, STATE_COLORS[step] if done else "grey-9", step if done else "")
        if st in ("failed", "expired"):
            step_badges["succeeded"].set(st, STATE_COLORS[st], st)
        t0 = fmt.instant(cmd["created_at"])
        took = " · ".join(
            f"{h['state']} +{(fmt.instant(h['at']) - t0) * 1000:.0f} ms" for h in cmd["history"]
        )
        cmd_state.set_text(f"{cmd['name']} {cmd['id'][:8]}: {st}")
        cmd_state.props(f'data-state="{st}"')
        detail = cmd.get("detail") or {}
        cmd_log.set_text(took + (f"  ·  {detail}" if detail else ""))

    def on_reboot() -> None:
        sent = actions.create_command(commands, target, "REBOOT")
        if isinstance(sent, str):
            cmd_state.set_text(f"REBOOT not sent: {sent}")
            return
        state["cmd"] = sent["id"]
        show_command(sent)  # as the API and the live stream show it

    base = f"{reading_topic(s.tenant, s.plant, line, machine, '')}"
    sub = page_subscription(
        hub,
        [base + "+", f"{command_topic(s.tenant, s.plant, line, machine)}/+",
         f"v1/{s.tenant}/{s.plant}/alert/#"],
    )  # fmt: skip

    def drain() -> None:
        while not sub.queue.empty():
            ev = sub.queue.get_nowait()
            data = ev["data"]
            if ev["type"] == "reading":
                metric, value = data["metric"], float(data["value"])
                ts = time.time() * 1000
                if metric in series:
                    series[metric].append((ts, value))
                if metric == "temperature":
                    state["temperature"] = value
                    temp_card.set(f"{value:.1f}", "> 50 red · > 40 orange")
                elif metric == "vibration":
                    state["vibration"] = value
                    vib_card.set(f"{value:.2f}", "alert above 1.0 g" if value <= SHAKE_G else
                                 "ALERT: above 1.0 g")  # fmt: skip
                elif metric == "uptime":
                    up_card.set(f"{value:.1f}", "since the last reset")
                elif metric == "status":
                    label = STATUS_LABELS.get(int(value), f"status {value:g}")
                    badge.set(label, "positive" if value == 0 else "negative", label)
            elif ev["type"] == "command" and data["id"] == state["cmd"]:
                show_command(data)
            elif ev["type"] == "alert":
                alerts.appendleft(data)
                alert_box.clear()
                with alert_box:
                    for a in alerts:
                        color = "negative" if a.get("active") else "grey-7"
                        with ui.row().classes("items-center gap-2"):
                            ui.badge("active" if a.get("active") else "cleared", color=color)
                            ui.label(f"{time.strftime('%H:%M:%S', time.localtime(fmt.instant(a['since'])))} "
                                     f"{a['message']}").classes("et-sub")  # fmt: skip
        housing.material(temp_color(state["temperature"]))
        vib = state["vibration"]
        amp = 0.0 if vib <= SHAKE_G else min(0.04 * vib, 0.12)
        group.move(random.uniform(-amp, amp), random.uniform(-amp, amp), 0)

    def redraw() -> None:
        now = time.time() * 1000
        for metric, chart in charts_.items():
            data = [list(series[metric])]
            # a young stream fills the width instead of hugging the right edge
            charts.set_data(chart, data, charts.fit_window(data, now, HISTORY_S, shortest_s=30))

    await backfill(ctx.services, target, series)
    redraw()
    ui.timer(0.1, drain)
    ui.timer(1.0, redraw)


async def backfill(
    services: Any, target: Target, series: dict[str, deque[tuple[float, float]]]
) -> None:
    """Fill the charts with the last two minutes from the store, so a page opened now does not
    start empty; live readings extend them from then on. Each 1 s bucket gives its min and max
    (:func:`~edgetwin.dashboard.charts.envelope`): a vibration spike shows at its height."""
    end = datetime.now(UTC)
    start = end - timedelta(seconds=HISTORY_S)
    for metric, points in series.items():
        key = SeriesKey(target.tenant, target.plant, target.line, target.machine, metric)
        with contextlib.suppress(EdgetwinError):
            found = await services.series(key, start, end, 1)
            points.extend((t, v) for t, v in charts.envelope(found["points"], 1) if v is not None)


def pages() -> list[PageSpec]:
    """The motor's dashboard pages (``Pack.pages``)."""
    return [PageSpec("/motor", "Motor", motor_page)]
