"""The warehouse's analytics page (``/warehouse/analytics``): energy by device, throughput,
a utilisation heatmap and anomalies over the last 24 h, 7 d, 30 d or a custom range, with CSV
exports of the energy log, the orders and the alerts (streamed by
``GET /api/v1/warehouse/export``, which the page's session may call)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from nicegui import ui

from edgetwin.dashboard import context, theme
from edgetwin.dashboard.frame import frame
from edgetwin.dashboard.widgets import StatCard, card, section
from edgetwin.packs.warehouse import service
from edgetwin.packs.warehouse.analytics import analytics, window
from edgetwin.packs.warehouse.schemas import Analytics

DEVICE_COLORS: Final = {"hbw": theme.SERIES[1], "conveyor": theme.SERIES[3], "vgr": theme.SERIES[2]}
KIND_COLORS: Final = {"store": theme.SERIES[0], "process": theme.SERIES[1], "ship": theme.SERIES[3]}
_AXIS: Final = {
    "axisLine": {"lineStyle": {"color": theme.SURFACE_EDGE}},
    "axisLabel": {"color": theme.MUTED, "fontSize": 10},
    "splitLine": {"lineStyle": {"color": theme.GRID_LINE}},
}


def _per(bucket_s: int) -> str:
    names = {3600: "per hour", 86400: "per day"}
    if bucket_s in names:
        return names[bucket_s]
    return f"per {bucket_s // 3600} h" if bucket_s >= 3600 else f"per {bucket_s // 60} min"


def _label(iso: str, bucket_s: int) -> str:
    return iso[5:10] if bucket_s >= 86400 else iso[5:16].replace("T", " ")


def _bars(
    a: Analytics, series: list[tuple[str, list[float | None], str]], unit: str
) -> dict[str, Any]:
    return {
        "animation": False,
        "backgroundColor": "transparent",
        "grid": {"left": 8, "right": 12, "top": 30, "bottom": 4, "containLabel": True},
        "legend": {"top": 0, "textStyle": {"color": theme.MUTED, "fontSize": 11}},
        "tooltip": {
            "trigger": "axis",
            "backgroundColor": theme.HEADER,
            "textStyle": {"color": theme.TEXT},
        },
        "xAxis": {"type": "category", "data": [_label(b, a.bucket_s) for b in a.buckets], **_AXIS},
        "yAxis": {"type": "value", "name": unit, "nameTextStyle": {"color": theme.MUTED}, **_AXIS},
        "series": [
            {"name": n, "type": "bar", "stack": "all", "data": v, "itemStyle": {"color": c}}
            for n, v, c in series
        ],
    }


def _heatmap(a: Analytics) -> dict[str, Any]:
    data = [
        [i, j, v]
        for j, s in enumerate(a.utilisation)
        for i, v in enumerate(s.values)
        if v is not None
    ]
    return {
        "animation": False,
        "backgroundColor": "transparent",
        "grid": {"left": 8, "right": 70, "top": 8, "bottom": 4, "containLabel": True},
        "tooltip": {"backgroundColor": theme.HEADER, "textStyle": {"color": theme.TEXT}},
        "xAxis": {"type": "category", "data": [_label(b, a.bucket_s) for b in a.buckets], **_AXIS},
        "yAxis": {"type": "category", "data": [s.name for s in a.utilisation], **_AXIS},
        "visualMap": {  # scaled to the busiest cell, so a quiet range still shows its pattern
            "min": 0,
            "max": max([10.0, *(v for _, _, v in data)]),
            "orient": "vertical",
            "right": 0,
            "top": "middle",
            "itemHeight": 120,
            "calculable": True,
            "textStyle": {"color": theme.MUTED},
            "inRange": {"color": [theme.BACKGROUND, "#1d4ed8", "#38bdf8", "#facc15"]},
        },
        "series": [{"type": "heatmap", "data": data, "name": "utilisation %"}],
    }


async def analytics_page() -> None:
    ctx = context.get()
    tenant, plant = ctx.settings.tenant, ctx.settings.plant
    store = service.active()[0]
    chosen: dict[str, Any] = {"range": "24h"}

    with frame("/warehouse/analytics", "Warehouse analytics"):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label("Warehouse analytics").classes("text-2xl font-semibold")
            ui.space()
            toggle = ui.toggle(
                ["24h", "7d", "30d", "custom"], value="24h", on_change=lambda e: pick(str(e.value))
            ).props('data-testid="wa-range" color=secondary toggle-color=primary')
        with ui.row().classes("w-full items-end gap-3") as custom_row:
            start_in = ui.input("from (UTC)", placeholder="2026-01-01 00:00").props(
                'data-testid="wa-start"'
            )
            end_in = ui.input("to (UTC)", placeholder="2026-01-02 00:00").props(
                'data-testid="wa-end"'
            )
            ui.button("Show", on_click=lambda: pick("custom")).props("outline")
        custom_row.set_visibility(False)
        with ui.grid().classes("w-full gap-4 grid-cols-2 md:grid-cols-5"):
            total = StatCard("Energy", "Wh", testid="wa-energy", icon="bolt")
            orders = StatCard("Orders done", testid="wa-orders", icon="task_alt")
            failed = StatCard("Orders failed", testid="wa-failed", icon="error")
            anomalies = StatCard("Spikes / stops", testid="wa-anomalies", icon="warning")
            took = StatCard("Answered in", "ms", testid="wa-took", icon="timer")
        with ui.grid().classes("w-full gap-4 grid-cols-1 xl:grid-cols-2"):
            with card().classes("p-3 min-w-0"):
                ui.label("Energy by device").classes("et-caption")
                energy_chart = (
                    ui.echart({}).classes("w-full h-64").props('data-testid="wa-energy-chart"')
                )
            with card().classes("p-3 min-w-0"):
                ui.label("Throughput (orders done)").classes("et-caption")
                tput_chart = (
                    ui.echart({}).classes("w-full h-64").props('data-testid="wa-throughput"')
                )
            with card().classes("p-3 min-w-0"):
                ui.label("Utilisation: share of time the motors ran, %").classes("et-caption")
                heat = ui.echart({}).classes("w-full h-64").props('data-testid="wa-heatmap"')
            with card().classes("p-3 min-w-0"):
                ui.label("Anomalies: wear spikes and micro-stoppages").classes("et-caption")
                anom_chart = (
                    ui.echart({}).classes("w-full h-64").props('data-testid="wa-anomaly-chart"')
                )
        section("Alerts in the range", "newest first")
        alert_box = ui.column().classes("w-full gap-1").props('data-testid="wa-alerts"')
        section("Export", "CSV, streamed from the store")
        exports = ui.row().classes("gap-3")

    def pick(name: str) -> None:
        custom_row.set_visibility(name == "custom")
        if name == "custom" and not (start_in.value and end_in.value):
            return
        chosen["range"] = name
        asyncio.get_running_loop().create_task(show())

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.strip().replace(" ", "T")).replace(tzinfo=UTC)

    async def show() -> None:
        name = chosen["range"]
        try:
            s0 = parse(start_in.value) if name == "custom" else None
            e0 = parse(end_in.value) if name == "custom" else None
            start, end, bucket = window(name, s0, e0)
        except ValueError as exc:
            ui.notify(f"not a range: {exc}", type="warning")
            return
        a = await asyncio.to_thread(analytics, store, tenant, plant, start, end, bucket)
        total.set(
            f"{sum(a.energy_total_wh.values()):.1f}",
            " · ".join(f"{d} {v:.0f}" for d, v in a.energy_total_wh.items()),
        )
        n = int(sum(v or 0 for s in a.throughput for v in s.values))
        orders.set(str(n), f"{len(a.buckets)} bars, {_per(a.bucket_s)}")
        failed.set(str(a.orders_failed))
        anomalies.set(f"{sum(a.spikes)} / {sum(a.stops)}")
        took.set(f"{a.took_ms:.0f}", f"{a.start[:16]} .. {a.end[:16]} UTC")
        energy_chart.options.clear()
        energy_chart.options.update(
            _bars(a, [(s.name, s.values, DEVICE_COLORS[s.name]) for s in a.energy_wh], "Wh")
        )
        tput_chart.options.clear()
        tput_chart.options.update(
            _bars(a, [(s.name, s.values, KIND_COLORS[s.name]) for s in a.throughput], "orders")
        )
        heat.options.clear()
        heat.options.update(_heatmap(a))
        anom_chart.options.clear()
        anom_chart.options.update(
            _bars(
                a,
                [
                    ("spikes", list(map(float, a.spikes)), "#f59e0b"),
                    ("stops", list(map(float, a.stops)), "#ef4444"),
                ],
                "count",
            )
        )
        for chart in (energy_chart, tput_chart, heat, anom_chart):
            chart.update()
        alert_box.clear()
        with alert_box:
            for x in a.anomalies[:30] or []:
                ui.label(f"{x.at[:19]} {x.kind} · {x.message}").classes("et-sub et-mono")
            if not a.anomalies:
                ui.label("none").classes("et-sub")
        exports.clear()
        query = {
            "tenant": tenant,
            "plant": plant,
            "range": "custom",
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        with exports:
            for table in ("energy", "orders", "alerts"):
                url = f"/api/v1/warehouse/export?{urlencode(query | {'table': table})}"
                ui.link(f"{table}.csv", url, new_tab=True).classes("et-nav").props(
                    f'data-testid="wa-export-{table}" download'
                )

    toggle.value = chosen["range"]
    await show()
