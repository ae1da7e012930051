"""The overview page (``/``): pipeline counters, the buffer and uplink of every edge of the
caller's tenants, live charts."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final

from nicegui import ui

from edgetwin.core.errors import EdgetwinError
from edgetwin.dashboard import access, charts, context, fmt, theme
from edgetwin.dashboard.cache import shared
from edgetwin.dashboard.frame import frame
from edgetwin.dashboard.pages import PageSpec
from edgetwin.dashboard.widgets import (
    UPLINK_COLORS,
    LiveIndicator,
    StatCard,
    StatusBadge,
    card,
    section,
)

REFRESH_S: Final = 2.0
WINDOW_S: Final = 600.0  # the charts show the last ten minutes


class EdgeCard:
    """One edge gateway: uplink state, buffer depth and age, counters."""

    def __init__(self, edge_id: str) -> None:
        with card().classes("w-full p-4 gap-3 min-w-0").props(f'data-testid="edge-{edge_id}"'):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.icon("router", size="20px").style(f"color: {theme.ACCENT}")
                ui.label(edge_id).classes("et-section et-mono")
                ui.space()
                self.online = StatusBadge("…", testid=f"edge-{edge_id}-online")
                self.uplink = StatusBadge("…", testid=f"edge-{edge_id}-uplink")
            with ui.grid().classes("w-full gap-x-6 gap-y-3 grid-cols-2 sm:grid-cols-3"):
                self.depth = _figure("Buffer depth", "readings", f"edge-{edge_id}-depth")
                self.fill = _figure("Buffer fill", "", f"edge-{edge_id}-fill")
                self.oldest = _figure("Oldest buffered", "", f"edge-{edge_id}-oldest")
                self.runway = _figure("Runway", "", f"edge-{edge_id}-runway")
                self.dropped = _figure("Dropped by policy", "", f"edge-{edge_id}-dropped")
                self.received = _figure("Received", "readings", f"edge-{edge_id}-received")
                self.rejected = _figure("Rejected at edge", "", f"edge-{edge_id}-rejected")
                self.dead = _figure("Dead letters", "", f"edge-{edge_id}-dead")
                self.report = _figure("Last report", "ago", f"edge-{edge_id}-report")
            ui.label("Sinks").classes("et-sub")
            self.sinks = (
                ui.column().classes("w-full gap-1").props(f'data-testid="edge-{edge_id}-sinks"')
            )
            self._sinks_shown: list[tuple[Any, ...]] | None = None

    def set(self, edge: dict[str, Any]) -> None:
        uplink = str(edge.get("uplink") or "unknown")
        self.uplink.set(f"uplink {uplink}", UPLINK_COLORS.get(uplink, "grey-7"), uplink)
        if edge.get("online"):
            self.online.set("online", "positive", "online")
        else:
            self.online.set("offline", "negative", "offline")
        self.depth.set_text(fmt.integer(edge.get("buffer_depth")))
        self.oldest.set_text(fmt.age(edge.get("oldest_age_s")))
        fill = edge.get("buffer_fill")
        policy = str(edge.get("buffer_policy") or "").replace("_", " ")
        self.fill.set_text(fmt.DASH if fill is None else f"{fill:.0%} · {policy}")
        self.runway.set_text(fmt.age(edge.get("runway_s")))
        dropped = edge.get("dropped") or {}
        self.dropped.set_text(fmt.integer(sum(dropped.values())))
        received = edge.get("received")
        self.received.set_text(fmt.integer(received) if isinstance(received, int) else fmt.DASH)
        rejected = edge.get("rejected") or {}
        self.rejected.set_text(fmt.integer(sum(rejected.values())))
        self.dead.set_text(fmt.integer(edge.get("dead_letters")))
        self.report.set_text(fmt.age(edge.get("last_report_age_s")))
        self._set_sinks(edge.get("sinks") or {})

    def _set_sinks(self, sinks: dict[str, dict[str, Any]]) -> None:
        """One line per durable sink: its state, outbox depth, oldest reading, runway, drops."""
        rows = [
            (
                name,
                str(s.get("state") or "unknown"),
                fmt.integer(s.get("depth")),
                fmt.age(s.get("oldest_age_s")),
                fmt.age(s.get("runway_s")),
                fmt.integer(sum((s.get("dropped") or {}).values())),
            )
            for name, s in sorted(sinks.items())
        ]
        if rows == self._sinks_shown:
            return
        self._sinks_shown = rows
        self.sinks.clear()
        with self.sinks:
            for name, state, depth, oldest, runway, dropped in rows:
                with (
                    ui.row()
                    .classes("w-full items-center gap-3 no-wrap")
                    .props(f'data-testid="sink-{name}"')
                ):
                    StatusBadge(state, testid=f"sink-{name}-state").set(
                        state, UPLINK_COLORS.get(state, "grey-7"), state
                    )
                    ui.label(name).classes("et-mono")
                    ui.label(
                        f"outbox {depth} · oldest {oldest} · runway {runway} · dropped {dropped}"
                    ).classes("et-sub")


class AlertList:
    """Active alerts first, then the ones cleared in the last hour."""

    def __init__(self) -> None:
        self.box = card().classes("w-full p-4 gap-2").props('data-testid="alerts"')
        self._shown: list[tuple[Any, ...]] | None = None

    def set(self, alerts: list[dict[str, Any]]) -> None:
        key = [(a.get("kind"), a.get("source"), a.get("active"), a.get("message")) for a in alerts]
        if key == self._shown:
            return
        self._shown = key
        self.box.clear()
        with self.box:
            if not alerts:
                with ui.row().classes("items-center gap-2"):
                    ui.icon("check_circle", size="18px").style("color: #22c55e")
                    ui.label("No alerts.").classes("et-sub")
                return
            now = time.time()
            for a in alerts[:8]:
                active = bool(a.get("active"))
                with (
                    ui.row()
                    .classes("w-full items-center gap-3 no-wrap")
                    .props(
                        f'data-testid="alert-{a.get("kind")}" data-active="{str(active).lower()}"'
                    )
                ):
                    ui.icon("error" if active else "history", size="20px").style(
                        f"color: {'#ef4444' if active else theme.MUTED}"
                    )
                    ui.label(str(a.get("kind", "")).replace("_", " ")).classes(
                        "font-semibold min-w-[8rem]"
                    )
                    ui.label(str(a.get("message", ""))).classes("min-w-0 grow truncate")
                    since = a.get("since")
                    when = f"{fmt.age(now - fmt.instant(str(since)))} ago" if since else ""
                    state = "active" if active else "cleared"
                    ui.label(f"{a.get('source', '')} · {state} · {when}").classes("et-sub")


def _figure(caption: str, unit: str, testid: str) -> ui.label:
    with ui.column().classes("gap-0 min-w-0"):
        ui.label(caption).classes("et-caption")
        with ui.row().classes("items-baseline gap-0 no-wrap"):
            value = (
                ui.label(fmt.DASH).classes("text-lg font-semibold").props(f'data-testid="{testid}"')
            )
            if unit:
                ui.label(unit).classes("et-unit text-xs")
    return value


def _recent(history: Iterable[tuple[float, float]], since: float) -> list[charts.Point]:
    return [(t * 1000, v) for t, v in history if t >= since]


async def overview() -> None:
    ctx = context.get()
    tenant, plant = ctx.settings.tenant, ctx.settings.plant
    caller = access.caller()
    scope = tuple(sorted(caller.tenants))  # tabs of callers with the same tenants share a query

    with frame("/", "Overview"):
        with ui.row().classes("w-full items-center"):
            ui.label("Plant overview").classes("text-2xl font-semibold")
            ui.space()
            live = LiveIndicator()

        with ui.grid().classes("w-full gap-4 grid-cols-2 md:grid-cols-3 xl:grid-cols-6"):
            devices = StatCard("Devices online", testid="stat-devices", icon="sensors")
            rate = StatCard("Ingest rate", "readings/s", testid="stat-rate", icon="speed")
            stored = StatCard("Stored readings", testid="stat-stored", icon="storage")
            duplicates = StatCard("Duplicates", testid="stat-duplicates", icon="content_copy")
            rejected = StatCard("Rejected", testid="stat-rejected", icon="block")
            backfilled = StatCard("Backfilled", testid="stat-backfilled", icon="history")

        section("Alerts", "buffer limits, dropped readings, damaged buffers, silent edges")
        alert_list = AlertList()

        section("Edge gateways", "store-and-forward buffer and uplink of each edge")
        with ui.grid().classes("w-full gap-4 grid-cols-1 xl:grid-cols-5"):
            with ui.column().classes("gap-4 min-w-0 xl:col-span-2"):
                no_edges = card().classes("p-4 w-full")
                with no_edges:
                    ui.label("No edge has reported yet.").classes("et-sub")
                edges_box = ui.column().classes("w-full gap-4")
            with card().classes("p-4 gap-1 min-w-0 xl:col-span-3"):
                ui.label("Buffer depth, up to the last 10 minutes").classes("et-caption")
                depth_chart = charts.time_chart(
                    [],
                    (charts.Axis("readings", 1),),
                    testid="chart-buffer",
                    legend=True,
                    height="230px",
                )
        edge_cards: dict[str, EdgeCard] = {}

        section("Cloud ingest", "readings stored per second, up to the last 10 minutes")
        with card().classes("w-full p-4 gap-1 min-w-0"):
            rate_chart = charts.time_chart(
                [charts.Line("readings/s", theme.SERIES[0], area=True)],
                (charts.Axis("readings/s"),),
                testid="chart-rate",
                height="220px",
            )
        depth_lines: list[str] = []

    def update_edges(edges: list[dict[str, Any]]) -> None:
        no_edges.set_visibility(not edges)
        for edge in edges:
            edge_id = str(edge["edge_id"])
            if edge_id not in edge_cards:
                with edges_box:
                    edge_cards[edge_id] = EdgeCard(edge_id)
            edge_cards[edge_id].set(edge)

    def update_charts() -> None:
        since = time.time() - WINDOW_S
        states = sorted(
            (edge_id, s)
            for edge_id, s in ctx.services.edges.edges.items()
            if caller.may_see(s.tenant or "*")  # as the API's stats: an unknown tenant is "*"
        )
        ids = [edge_id for edge_id, _ in states]
        if ids != depth_lines:
            depth_lines[:] = ids
            colors = theme.SERIES
            charts.set_lines(
                depth_chart,
                [
                    charts.Line(edge_id, colors[i % len(colors)], area=True, digits=0)
                    for i, edge_id in enumerate(ids)
                ],
            )
        now_ms = (since + WINDOW_S) * 1000
        depths = [_recent(s.history, since) for _, s in states]
        rates = [_recent(ctx.services.rate_history, since)]
        charts.set_data(depth_chart, depths, charts.fit_window(depths, now_ms, WINDOW_S))
        charts.set_data(rate_chart, rates, charts.fit_window(rates, now_ms, WINDOW_S))

    async def refresh() -> None:
        try:
            stats = await shared.get(
                ("stats", scope), 1.0, lambda: ctx.services.stats(caller.may_see)
            )
            devs = await shared.get(
                ("devices", tenant, plant), 1.0, lambda: ctx.services.devices(tenant, plant)
            )
        except EdgetwinError as exc:
            live.failed(str(exc))
            return
        online = sum(1 for d in devs if d["online"])
        devices.set(
            f"{online} / {len(devs)}",
            f"{len(devs) - online} silent for 10 s" if devs else "none seen yet",
        )
        rate.set(fmt.decimal(stats["ingest_rate_per_s"]), f"cloud up {fmt.age(stats['uptime_s'])}")
        stored.set(fmt.integer(stats["stored"]), f"in {stats['store'].get('kind', 'store')}")
        duplicates.set(fmt.integer(stats["duplicates"]), "ignored by reading id")
        rejected.set(fmt.integer(stats["rejected"]), "malformed input")
        backfilled.set(fmt.integer(stats["historical"]), "stored after an outage")
        update_edges(stats["edges"])
        alert_list.set(stats.get("alerts", []))
        update_charts()
        live.ok()

    await refresh()
    ui.timer(REFRESH_S, refresh)


OVERVIEW: Final = PageSpec("/", "Overview", overview)
