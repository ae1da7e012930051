"""The CMM's dashboard page (``/cmm``): the thermal correlation (temperature, raw and compensated
length over time, with the tolerance band), the verdicts beside what a temperature-blind check
would have said, the drop folder, the MES sink's backlog and state, and the OPC UA endpoint with
its client count. It only calls the cloud's services (readings, and the edges' reported status
as the page's caller may see it: ``sinks.<name>``, with what each sink reports of itself under
``stats``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlparse

from nicegui import ui

from edgetwin.cloud.store import SeriesKey
from edgetwin.core.errors import EdgetwinError
from edgetwin.dashboard import access, charts, context, fmt, theme
from edgetwin.dashboard.cache import shared
from edgetwin.dashboard.frame import frame
from edgetwin.dashboard.pages import PageSpec
from edgetwin.dashboard.widgets import LiveIndicator, StatCard, StatusBadge, card, section

LINE, MACHINE = "metrology", "cmm-01"
MES_SINK, OPCUA_SINK = "mes", "opcua"  # the sinks' names in the pack's pipeline snippet
NOMINAL_MM, TOLERANCE_MM = 100.0, 0.005  # as the pack's pipeline snippet configures them
CHART_MINUTES: Final = 10
BUCKET_S: Final = 5  # one measurement every 5 s
VERDICT_HOURS: Final = 1
TEMP, RAW, COMP, BAND = theme.SERIES[1], theme.SERIES[2], theme.SERIES[0], theme.MUTED


def _points(series: dict[str, Any]) -> list[charts.Point]:
    return [(datetime.fromisoformat(p["bucket"]).timestamp() * 1000, p["avg"])
            for p in series["points"]]  # fmt: skip


def _failed(series: dict[str, Any]) -> tuple[int, int]:
    """(parts, failed) from a verdict series (0 PASS, 1 FAIL): the sum of the codes is the
    number of FAILs (avg × count per bucket)."""
    parts = sum(p["count"] for p in series["points"])
    failed = sum(round((p["avg"] or 0.0) * p["count"]) for p in series["points"])
    return parts, failed


def _edge_with(stats: dict[str, Any], sink: str) -> dict[str, Any] | None:
    for edge in stats.get("edges", []):
        if sink in edge.get("sinks", {}):
            found: dict[str, Any] = edge
            return found
    return None


def _sink(stats: dict[str, Any], name: str) -> dict[str, Any] | None:
    """Sink ``name``'s status as its edge reports it (None: no edge has it)."""
    edge = _edge_with(stats, name)
    return None if edge is None else dict(edge["sinks"][name])


def mes_text(sink: dict[str, Any] | None) -> tuple[str, str]:
    """The MES card: the outbox depth (readings waiting), and its state with what it posted."""
    if sink is None:
        return "–", "no edge reports an MES sink"
    own = sink.get("stats") or {}
    posted = own.get("posted")
    done = (
        f"{fmt.integer(posted)} records posted"
        if posted is not None
        else f"{fmt.integer(sink.get('sent', 0))} readings acknowledged"
    )
    error = (
        f" · {sink['last_error']}"
        if sink.get("state") == "failing" and sink.get("last_error")
        else ""
    )
    return fmt.integer(sink.get("depth", 0)), f"{sink.get('state', '?')}, {done}{error}"


def opcua_clients_text(sink: dict[str, Any] | None) -> tuple[str, str]:
    """The OPC UA clients card: the sessions open now, and their subscriptions."""
    if sink is None:
        return "–", "no edge reports an OPC UA sink"
    own = sink.get("stats") or {}
    if "clients" not in own:
        return "–", "this edge does not report its OPC UA clients"
    subs = int(own.get("subscriptions", 0))
    refused = int(own.get("refused_logins", 0))
    sub = f"{subs} subscription{'s' if subs != 1 else ''}"
    return fmt.integer(own["clients"]), sub + (f" · {refused} logins refused" if refused else "")


async def cmm_page() -> None:
    ctx = context.get()
    tenant, plant = ctx.settings.tenant, ctx.settings.plant
    caller = access.caller()
    scope = tuple(sorted(caller.tenants))  # tabs of callers with the same tenants share a query

    with frame("/cmm", "CMM"):
        with ui.row().classes("w-full items-center"):
            ui.label("CMM thermal compensation").classes("text-2xl font-semibold")
            ui.space()
            live = LiveIndicator()
        ui.label(
            f"Al 6061 part, nominal {NOMINAL_MM:.1f} mm at 20 °C, tolerance ±{TOLERANCE_MM} mm;"
            " each measurement compensated to 20 °C at the edge: L20 = L / (1 + α(T − 20))"
        ).classes("et-sub")
        with ui.grid(columns=6).classes("w-full gap-3"):
            temp = StatCard("Temperature", "°C", testid="cmm-temperature", icon="thermostat")
            raw = StatCard("Raw length", "mm", testid="cmm-raw")
            comp = StatCard("Compensated", "mm", testid="cmm-compensated")
            dev = StatCard("Deviation", "µm", testid="cmm-deviation")
            with card().classes("p-4 gap-2").props('data-testid="cmm-verdict"'):
                ui.label("Verdict").classes("et-caption")
                verdict = StatusBadge("…", testid="cmm-verdict-badge")
                raw_verdict = ui.label("").classes("et-sub")
            status = StatCard("Device status", "", testid="cmm-status")
        section("Thermal correlation", f"last {CHART_MINUTES} min; the tolerance band in grey")
        with card().classes("w-full p-3"):
            chart = charts.time_chart(
                [
                    charts.Line("compensated mm", COMP, digits=4),
                    charts.Line("raw mm", RAW, digits=4),
                    charts.Line("upper tolerance", BAND, digits=3),
                    charts.Line("lower tolerance", BAND, digits=3),
                    charts.Line("temperature °C", TEMP, axis=1, digits=2),
                ],
                (charts.Axis("mm", 0.002), charts.Axis("°C", 1)),
                height="300px",
                testid="cmm-chart",
            )
        section("Verdicts", f"last {VERDICT_HOURS} h")
        with ui.grid(columns=3).classes("w-full gap-3"):
            parts = StatCard("Parts judged", "", testid="cmm-parts")
            comp_fail = StatCard("Failed (compensated)", "", testid="cmm-failed")
            raw_fail = StatCard("Failed by a blind check", "", testid="cmm-raw-failed")
        section("Edge", "where the measurements go")
        with ui.grid(columns=4).classes("w-full gap-3"):
            folder = StatCard("Drop folder", "files taken", testid="cmm-files")
            mes = StatCard("MES backlog", "readings", testid="cmm-mes", icon="outbox")
            opcua = StatCard("OPC UA server", "", testid="cmm-opcua", icon="lan")
            clients = StatCard("OPC UA clients", "", testid="cmm-opcua-clients", icon="group")

        def show_endpoint(url: str, security: str | None) -> None:
            endpoint = urlparse(url)
            opcua.set(f"{endpoint.hostname}:{endpoint.port}",
                      f"{url} · CMM_01" + (f" · security {security}" if security else ""))  # fmt: skip

        show_endpoint(ctx.settings.opcua_url, None)

    async def refresh() -> None:
        end = datetime.now(UTC)
        start = end - timedelta(minutes=CHART_MINUTES)
        day = end - timedelta(hours=VERDICT_HOURS)

        async def series(metric: str, since: datetime, bucket: int) -> dict[str, Any]:
            key = SeriesKey(tenant, plant, LINE, MACHINE, metric)
            return await shared.get(("series", key, since.minute, bucket), 2.0,
                                    lambda: ctx.services.series(key, since, end, bucket))  # fmt: skip

        try:
            devices = await shared.get(
                ("devices", tenant, plant), 1.0, lambda: ctx.services.devices(tenant, plant)
            )
            stats = await shared.get(
                ("stats", scope), 1.0, lambda: ctx.services.stats(caller.may_see)
            )
            c, r, t, v, rv = await asyncio.gather(
                series("compensated_length", start, BUCKET_S), series("length", start, BUCKET_S),
                series("temperature", start, BUCKET_S),
                series("verdict", day, VERDICT_HOURS * 3600),
                series("raw_verdict", day, VERDICT_HOURS * 3600),
            )  # fmt: skip
        except EdgetwinError as exc:
            live.failed(str(exc))
            return
        device = next((d for d in devices if (d["line"], d["machine"]) == (LINE, MACHINE)), None)
        m = device["metrics"] if device else {}

        def value(name: str) -> float | None:
            got: float | None = m.get(name, {}).get("value")
            return got

        temp.set(fmt.decimal(value("temperature"), 2))
        raw.set(fmt.decimal(value("length"), 4))
        comp.set(fmt.decimal(value("compensated_length"), 4))
        dev.set(fmt.decimal(value("deviation"), 1))
        code = value("verdict")
        if code is None:
            verdict.set("NO DATA", "grey-7", "unknown")
        else:
            verdict.set(
                *(("PASS", "positive", "pass") if code == 0 else ("FAIL", "negative", "fail"))
            )
        blind = value("raw_verdict")
        raw_verdict.set_text("" if blind is None else
                             f"a blind check says {'PASS' if blind == 0 else 'FAIL'}")  # fmt: skip
        status.set({0: "IDLE", 1: "ACTIVE", 2: "FAIL"}.get(int(value("device_status") or 0), "?"))
        n, failed = _failed(v)
        _, blind_failed = _failed(rv)
        parts.set(fmt.integer(n))
        comp_fail.set(fmt.integer(failed), f"{100 * failed / n:.1f} %" if n else "")
        raw_fail.set(fmt.integer(blind_failed),
                     f"{100 * blind_failed / n:.1f} % of the same parts" if n else "")  # fmt: skip
        mes.set(*mes_text(_sink(stats, MES_SINK)))
        server = _sink(stats, OPCUA_SINK)
        clients.set(*opcua_clients_text(server))
        own = (server or {}).get("stats") or {}
        show_endpoint(own.get("endpoint") or ctx.settings.opcua_url, own.get("security"))
        edge = _edge_with(stats, MES_SINK)
        if edge is not None:
            rejected = edge.get("rejected", {}).get("malformed_file", 0)
            # the drop folder numbers the measurements it took: the last number is the count
            folder.set(fmt.integer(value("measurement")), f"{rejected} rejected as malformed")
        data = [_points(c), _points(r), [], [], _points(t)]
        end_ms = end.timestamp() * 1000
        window = charts.fit_window(data, end_ms, CHART_MINUTES * 60)
        data[2] = [(window[0], NOMINAL_MM + TOLERANCE_MM), (window[1], NOMINAL_MM + TOLERANCE_MM)]
        data[3] = [(window[0], NOMINAL_MM - TOLERANCE_MM), (window[1], NOMINAL_MM - TOLERANCE_MM)]
        charts.set_data(chart, data, window)
        live.ok()

    await refresh()
    ui.timer(2.0, refresh)


def pages() -> list[PageSpec]:
    """The CMM pack's dashboard pages (``Pack.pages``)."""
    return [PageSpec("/cmm", "CMM", cmm_page)]
