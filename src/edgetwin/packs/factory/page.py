"""The smart factory's dashboard page (``/factory``): KPIs, fault injection, and every machine's
state and trends, grouped by line, each with a Stop/Start device command and its lifecycle. It
only calls the cloud's services. The fault switches and the Stop/Start buttons are built for
operators and admins only, and each click is checked and audited on the server
(:mod:`edgetwin.dashboard.actions`); a viewer sees the reported states."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from nicegui import ui

from edgetwin.cloud.commands import Target
from edgetwin.cloud.live import dashboard_services
from edgetwin.cloud.store import SeriesKey
from edgetwin.core.errors import EdgetwinError
from edgetwin.core.topics import command_topic
from edgetwin.dashboard import access, actions, charts, context, fmt, theme
from edgetwin.dashboard.cache import shared
from edgetwin.dashboard.frame import frame
from edgetwin.dashboard.pages import PageSpec
from edgetwin.dashboard.widgets import (
    LiveIndicator,
    ReportedSwitch,
    StatCard,
    StatusBadge,
    page_subscription,
    section,
)
from edgetwin.packs.factory.cloud import LineKpi, fault_states, kpis, stopped_machines
from edgetwin.packs.factory.model import (
    CYCLE_S,
    FAULT_COMMANDS,
    LINES,
    MACHINES,
    METRICS,
    STATE_FAULT,
    STATE_RUN,
    STATE_STOP,
)

KPI_MINUTES: Final = 5
CHART_MINUTES: Final = 10
BUCKET_S: Final = 4  # two 2 s cycles per point: 150 points per chart
REFRESH_S: Final = 2.0  # KPIs, machine states, fault switches
CHART_REFRESH_S: Final = 4.0  # 18 series queries, shared by every open tab

# The labels come with the readings (``/api/v1/devices`` gives each enum value its label, as the
# device type declares it); only the colours are the page's.
STATE_COLORS: Final = {STATE_RUN: "positive", STATE_STOP: "warning", STATE_FAULT: "negative"}
FAULT_TEXT: Final = {
    "bearing_fault": (
        "Bearing fault",
        "Temperature +15–25 °C, vibration +5–10 mm/s, more scrap; machines go to FAULT.",
    ),
    "energy_spike": ("Energy spike", "Power draw of every machine ×2.5–4."),
    "network_outage": (
        "Network outage",
        "The edge's uplink is cut: its buffer grows, then backfills in order.",
    ),
}
TEMP, VIBRATION = theme.SERIES[1], theme.SERIES[0]
COMMAND_COLORS: Final = {"succeeded": "positive", "failed": "negative", "expired": "negative"}


class MachinePanel:
    """One machine: state badge, current values, temperature and vibration over time; with
    ``send`` (an operator's page) a Stop/Start button."""

    def __init__(self, machine: str, send: Callable[[str], None] | None) -> None:
        self.machine = machine
        self.stopped = False  # by an operator's command, as the simulator reports it
        with (
            ui.column()
            .classes("gap-1 p-3 rounded-lg min-w-0")
            .style(f"background: {theme.BACKGROUND}; border: 1px solid {theme.SURFACE_EDGE}")
            .props(f'data-testid="machine-{machine}"')
        ):
            with ui.row().classes("w-full items-center no-wrap gap-2"):
                ui.label(machine).classes("font-semibold et-mono")
                ui.space()
                self.toggle: ui.button | None = None
                if send is not None:
                    self.toggle = ui.button(
                        icon="stop_circle", on_click=lambda: send(self._next_command())
                    ).props(f'flat dense round size=sm data-testid="machine-{machine}-toggle"')
                    with self.toggle:
                        self.tip = ui.tooltip("Stop this machine (device command)")
                self.state = StatusBadge("…", testid=f"machine-{machine}-state")
            with ui.row().classes("w-full gap-4 no-wrap"):
                self.temp = _reading("temp", "°C", TEMP)
                self.vibration = _reading("vibration", "mm/s", VIBRATION)
                self.energy = _reading("energy", "kW", theme.SERIES[2])
            self.command = (
                ui.label("")
                .classes("et-sub et-mono text-xs")
                .props(f'data-testid="machine-{machine}-command" data-state=""')
            )
            self.chart = charts.time_chart(
                [
                    charts.Line("temp °C", TEMP),
                    charts.Line("vibration mm/s", VIBRATION, axis=1, digits=2),
                ],
                (charts.Axis("°C", 1), charts.Axis("mm/s", 0.1)),
                height="170px",
                testid=f"machine-chart-{machine}",
                legend=False,  # the coloured captions above are the legend
            )

    def _next_command(self) -> str:
        return "START" if self.stopped else "STOP"

    def set_stopped(self, stopped: bool) -> None:
        if stopped != self.stopped:
            self.stopped = stopped
            if self.toggle is None:
                return
            self.toggle.props(f"icon={'play_circle' if stopped else 'stop_circle'}")
            self.tip.set_text(f"{'Start' if stopped else 'Stop'} this machine (device command)")

    def show_command(self, cmd: dict[str, Any]) -> None:
        """The last command's lifecycle, as it happens: STOP 1a2b3c4d: delivered."""
        st = cmd["state"]
        took = fmt.instant(cmd["updated_at"]) - fmt.instant(cmd["created_at"])
        text = f"{cmd['name']} {cmd['id'][:8]}: {st}"
        if st in COMMAND_COLORS:
            text += f" in {took * 1000:.0f} ms"
            error = (cmd.get("detail") or {}).get("error")
            text += f" ({error})" if error else ""
        self.command.set_text(text)
        self.command.props(f'data-state="{st}"')
        color = COMMAND_COLORS.get(st)
        self.command.classes(remove="text-positive text-negative")
        if color:
            self.command.classes(f"text-{color}")

    def set_device(self, device: dict[str, Any] | None) -> None:
        if device is None:
            self.state.set("NO DATA", "grey-7", "unknown")
            return
        metrics = device["metrics"]
        if not device["online"]:
            self.state.set("OFFLINE", "grey-7", "offline")
        else:
            state = metrics.get("state", {})
            text = str(state.get("label") or "?")
            code = state.get("value")
            color = STATE_COLORS.get(int(code) if code is not None else -1, "grey-7")
            self.state.set(text, color, text.lower())
        self.temp.set_text(fmt.decimal(metrics.get("temp", {}).get("value")))
        self.vibration.set_text(fmt.decimal(metrics.get("vibration_rms", {}).get("value"), 2))
        self.energy.set_text(fmt.decimal(metrics.get("energy_kw", {}).get("value")))


def _reading(caption: str, unit: str, color: str) -> ui.label:
    with ui.column().classes("gap-0"):
        ui.label(caption).classes("et-caption").style(f"color: {color}")
        with ui.row().classes("items-baseline gap-0 no-wrap"):
            value = (
                ui.label(fmt.DASH)
                .classes("font-semibold")
                .style("font-variant-numeric: tabular-nums")
            )
            ui.label(unit).classes("et-unit text-xs")
    return value


class LinePanel:
    """One production line: its KPIs and its three machines."""

    def __init__(
        self, line: str, machines: tuple[str, ...], send: Callable[[str, str, str], None] | None
    ) -> None:
        with ui.card().classes("et-card w-full p-4 gap-3").props(f'data-testid="line-{line}"'):
            with ui.row().classes("w-full items-center gap-3"):
                ui.icon("conveyor_belt", size="20px").style(f"color: {theme.ACCENT}")
                ui.label(line).classes("et-section et-mono")
                ui.space()
                self.summary = ui.label("").classes("et-sub")
            with ui.grid().classes("w-full gap-3 grid-cols-1 md:grid-cols-3"):
                self.machines = {
                    m: MachinePanel(
                        m,
                        None if send is None else lambda name, m=m: send(line, m, name),  # type: ignore[misc]
                    )
                    for m in machines
                }

    def set_kpi(self, kpi: LineKpi | None) -> None:
        if not kpi:
            self.summary.set_text("no data in the last 5 min")
            return
        self.summary.set_text(
            f"avg {fmt.decimal(kpi.avg_temp)} °C · {fmt.decimal(kpi.avg_vibration_rms, 2)} mm/s"
            f" · {fmt.decimal(kpi.avg_energy_kw)} kW · good {fmt.integer(kpi.total_good_count)}"
            f" · bad {fmt.integer(kpi.total_bad_count)} · faults {fmt.integer(kpi.fault_count)}"
        )


def _points(series: dict[str, Any]) -> list[charts.Point]:
    """A series as chart points: each bucket's min and max (its spikes stay visible), with a
    gap where buckets are missing (an outage not yet backfilled)."""
    return charts.envelope(series["points"], BUCKET_S)


async def factory_page() -> None:
    ctx = context.get()
    tenant, plant = ctx.settings.tenant, ctx.settings.plant
    topic = command_topic(tenant, plant)
    hub, commands = dashboard_services()
    operator = access.may_command()  # a viewer's page has no switch and no Stop/Start

    def sender(cmd: str) -> Callable[[bool], bool | None] | None:
        if not operator:
            return None
        return lambda value: actions.publish_fault(
            tenant, topic, f"{plant}:{cmd}={'on' if value else 'off'}", {"cmd": cmd, "value": value}
        )

    def send_device(line: str, machine: str, name: str) -> None:
        sent = actions.create_command(commands, Target(tenant, plant, line, machine), name)
        if isinstance(sent, str):
            panels[(line, machine)].command.set_text(f"{name} not sent: {sent}")
            return
        panels[(line, machine)].show_command(sent)  # as the live stream shows it

    with frame("/factory", "Smart factory"):
        with ui.row().classes("w-full items-center"):
            ui.label("Smart factory").classes("text-2xl font-semibold")
            ui.label(
                f"{len(LINES)} lines · {len(MACHINES)} machines · "
                f"{len(METRICS)} metrics each every {CYCLE_S:.0f} s"
            ).classes("et-sub ml-2")
            ui.space()
            live = LiveIndicator()

        section("Key figures", f"last {KPI_MINUTES} minutes, whole plant")
        with ui.grid().classes("w-full gap-4 grid-cols-2 md:grid-cols-4 xl:grid-cols-7"):
            avg_temp = StatCard("Avg temp", "°C", testid="kpi-temp", icon="thermostat")
            avg_vib = StatCard("Avg vibration", "mm/s", testid="kpi-vibration", icon="vibration")
            avg_energy = StatCard("Avg power", "kW", testid="kpi-energy", icon="bolt")
            good = StatCard("Good parts", testid="kpi-good", icon="check_circle")
            bad = StatCard("Bad parts", testid="kpi-bad", icon="cancel")
            faults = StatCard("Fault readings", testid="kpi-faults", icon="warning")
            points = StatCard("Points", testid="kpi-points", icon="scatter_plot")

        section(
            "Fault injection",
            f"commands on {topic}; each switch shows what the devices report"
            if operator
            else "what the devices report (switching needs the operator role)",
        )
        with ui.grid().classes("w-full gap-4 grid-cols-1 md:grid-cols-3"):
            switches = {
                cmd: ReportedSwitch(*FAULT_TEXT[cmd], sender(cmd), testid=f"fault-{cmd}")
                for cmd in FAULT_COMMANDS
            }

        section("Lines", f"temperature and vibration, up to the last {CHART_MINUTES} minutes")
        lines = {
            line: LinePanel(line, machines, send_device if operator else None)
            for line, (machines, _) in LINES.items()
        }
    panels = {(line, m): panel for line, lp in lines.items() for m, panel in lp.machines.items()}

    def refresh_faults() -> None:
        for cmd, state in fault_states(ctx.link, tenant, plant).items():
            if cmd in switches:
                switches[cmd].update(state)
        stopped = stopped_machines(ctx.link, tenant, plant)
        for (line, machine), panel in panels.items():
            panel.set_stopped(f"{line}/{machine}" in stopped)

    sub = page_subscription(hub, [f"{command_topic(tenant, plant, '+', '+')}/+"])

    def drain_commands() -> None:
        while not sub.queue.empty():
            ev = sub.queue.get_nowait()
            if ev["type"] != "command":
                continue
            device = ev["data"]["device"]
            panel = panels.get((device["line"], device["machine"]))
            if panel is not None:
                panel.show_command(ev["data"])

    async def refresh() -> None:
        try:
            kpi = await shared.get(
                ("kpis", tenant, plant, KPI_MINUTES),
                1.0,
                lambda: kpis(ctx.services.store, tenant, plant, KPI_MINUTES),
            )
            devices = await shared.get(
                ("devices", tenant, plant), 1.0, lambda: ctx.services.devices(tenant, plant)
            )
        except EdgetwinError as exc:
            live.failed(str(exc))
            return
        avg_temp.set(fmt.decimal(kpi.avg_temp))
        avg_vib.set(fmt.decimal(kpi.avg_vibration_rms, 2))
        avg_energy.set(fmt.decimal(kpi.avg_energy_kw))
        good.set(fmt.integer(kpi.total_good_count))
        good_n, bad_n = kpi.total_good_count or 0, kpi.total_bad_count or 0
        made = good_n + bad_n
        scrap = f"{100 * bad_n / made:.1f} % scrap" if made else ""
        bad.set(fmt.integer(kpi.total_bad_count), scrap)
        faults.set(fmt.integer(kpi.fault_count), "machine cycles in FAULT")
        points.set(fmt.integer(kpi.total_points), "readings stored")
        for line, panel in lines.items():
            panel.set_kpi(kpi.lines.get(line))
        by_machine = {(d["line"], d["machine"]): d for d in devices}
        for key, machine_panel in panels.items():
            machine_panel.set_device(by_machine.get(key))
        live.ok()

    async def refresh_charts() -> None:
        end = datetime.now(UTC)
        start = end - timedelta(minutes=CHART_MINUTES)

        async def series(line: str, machine: str, metric: str) -> dict[str, Any]:
            key = SeriesKey(tenant, plant, line, machine, metric)
            return await shared.get(
                ("series", key, CHART_MINUTES, BUCKET_S),
                CHART_REFRESH_S - 1,
                lambda: ctx.services.series(key, start, end, BUCKET_S),
            )

        try:
            results = await asyncio.gather(
                *(
                    series(line, m, metric)
                    for line, m in panels
                    for metric in ("temp", "vibration_rms")
                )
            )
        except EdgetwinError as exc:
            live.failed(str(exc))
            return
        end_ms = end.timestamp() * 1000
        data = [[_points(results[2 * i]), _points(results[2 * i + 1])] for i in range(len(panels))]
        # One time axis for all nine charts, so they line up when compared.
        window = charts.fit_window([d for pair in data for d in pair], end_ms, CHART_MINUTES * 60)
        for panel, pair in zip(panels.values(), data, strict=True):
            charts.set_data(panel.chart, pair, window)

    refresh_faults()
    await refresh()
    await refresh_charts()
    ui.timer(1.0, refresh_faults)  # in memory, cheap: a command from elsewhere shows at once
    ui.timer(0.2, drain_commands)
    ui.timer(REFRESH_S, refresh)
    ui.timer(CHART_REFRESH_S, refresh_charts)


def pages() -> list[PageSpec]:
    """The factory's dashboard pages (``Pack.pages``)."""
    return [PageSpec("/factory", "Factory", factory_page)]
