"""ECharts time-series charts in the dashboard's style."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nicegui import ui

from edgetwin.dashboard import theme

# One point of a series: (unix time in ms, value); None leaves a gap.
Point = tuple[float, float | None]


@dataclass(frozen=True)
class Line:
    """One line of a chart."""

    name: str
    color: str
    axis: int = 0  # index into the chart's y axes
    area: bool = False
    step: bool = False
    digits: int = 1  # decimals in the tooltip


@dataclass(frozen=True)
class Axis:
    """A y axis: its unit, and the smallest step between its ticks (so noise around a flat
    value is not magnified into ticks like 60.474, 60.477, ...)."""

    unit: str = ""
    min_interval: float = 0.0


def time_chart(
    lines: Sequence[Line],
    axes: Sequence[Axis] = (Axis(),),
    *,
    height: str = "240px",
    testid: str,
    legend: bool | None = None,
) -> ui.echart:
    """A line chart over a time axis, with one y axis per entry of ``axes``."""
    show_legend = len(lines) > 1 if legend is None else legend
    options: dict[str, Any] = {
        "animation": False,
        "backgroundColor": "transparent",
        "textStyle": {"color": theme.MUTED, "fontFamily": "inherit"},
        "grid": {
            "left": 6,
            "right": 24 if len(axes) < 2 else 10,
            "top": 34 if show_legend else 22,
            "bottom": 2,
            "containLabel": True,
        },
        "legend": {
            "show": show_legend,
            "top": 0,
            "left": 0,
            "icon": "roundRect",
            "itemWidth": 12,
            "itemHeight": 4,
            "textStyle": {"color": theme.MUTED, "fontSize": 11},
        },
        "tooltip": {
            "trigger": "axis",
            "backgroundColor": theme.HEADER,
            "borderColor": theme.SURFACE_EDGE,
            "textStyle": {"color": theme.TEXT, "fontSize": 12},
        },
        "xAxis": {
            "type": "time",
            "axisLine": {"lineStyle": {"color": theme.SURFACE_EDGE}},
            "axisTick": {"show": False},
            "axisLabel": {"color": theme.MUTED, "fontSize": 10, "hideOverlap": True},
            "splitLine": {"show": False},
        },
        "yAxis": [_axis(axis, i) for i, axis in enumerate(axes)],
        "series": [_series(line) for line in lines],
    }
    return (
        ui.echart(options)
        .classes("w-full")
        .style(f"height: {height}")
        .props(f'data-testid="{testid}"')
    )


def set_data(
    chart: ui.echart,
    data: Sequence[Sequence[Point]],
    window: tuple[float, float] | None = None,
) -> None:
    """Replace the points of every line (in the order the lines were given) and redraw.

    ``window`` (start, end in unix ms) fixes the time axis, so "the last ten minutes" always
    spans the chart's width, however much data there is yet.
    """
    for series, points in zip(chart.options["series"], data, strict=True):
        series["data"] = [list(p) for p in points]
    if window is not None:
        chart.options["xAxis"]["min"], chart.options["xAxis"]["max"] = window
    chart.update()


def envelope(buckets: Sequence[Mapping[str, Any]], bucket_s: float) -> list[Point]:
    """Buckets of ``GET /api/v1/series`` as chart points that keep the extremes.

    A bucket's average hides what a history chart exists to show (ten 10 Hz readings with one
    +1.5 g spike average to 0.15): each bucket becomes its minimum and its maximum instead (a
    min/max envelope, at a quarter and three quarters of the bucket), so a spike is drawn at its
    full height, as the live points draw it. A bucket of one reading is one point. Where more
    than two buckets are missing (an outage not yet backfilled), the line is broken, never
    bridged.
    """
    step = bucket_s * 1000
    out: list[Point] = []
    last = None
    for b in buckets:
        t = datetime.fromisoformat(str(b["bucket"]).replace("Z", "+00:00")).timestamp() * 1000
        if last is not None and t - last > 2 * step:
            out.append((last + step, None))
        lo, hi = b.get("min"), b.get("max")
        if b.get("count", 1) <= 1 or lo is None or hi is None or lo == hi:
            out.append((t + step / 2, b["avg"] if lo is None or hi is None else lo))
        else:
            out += [(t + step / 4, lo), (t + 3 * step / 4, hi)]
        last = t
    return out


def fit_window(
    data: Sequence[Sequence[Point]], end_ms: float, longest_s: float, shortest_s: float = 60.0
) -> tuple[float, float]:
    """The time axis for ``data``: from its oldest point (but at least ``shortest_s`` and at most
    ``longest_s`` back) to ``end_ms``, so a young plant's few minutes fill the chart."""
    oldest = min((points[0][0] for points in data if points), default=end_ms)
    start = max(end_ms - longest_s * 1000, min(oldest, end_ms - shortest_s * 1000))
    return start, end_ms


def _axis(axis: Axis, index: int) -> dict[str, Any]:
    return {
        "type": "value",
        "name": axis.unit,
        "minInterval": axis.min_interval,
        "scale": True,
        "position": "left" if index == 0 else "right",
        # The unit sits above the axis, running inwards, so a long unit is never clipped.
        "nameTextStyle": {
            "color": theme.MUTED,
            "fontSize": 10,
            "align": "right" if index else "left",
        },
        "axisLabel": {"color": theme.MUTED, "fontSize": 10},
        "splitNumber": 4,
        "splitLine": {"show": index == 0, "lineStyle": {"color": theme.GRID_LINE}},
    }


def _series(line: Line) -> dict[str, Any]:
    series: dict[str, Any] = {
        "name": line.name,
        "type": "line",
        "yAxisIndex": line.axis,
        "showSymbol": False,
        "connectNulls": False,
        "sampling": "lttb",
        "lineStyle": {"width": 1.8, "color": line.color},
        "itemStyle": {"color": line.color},
        "tooltip": {
            ":valueFormatter": f"v => (v == null ? '–' : Number(v).toFixed({line.digits}))"
        },
        "data": [],
    }
    if line.area:
        series["areaStyle"] = {"color": line.color, "opacity": 0.12}
    if line.step:
        series["step"] = "end"
    return series


def set_lines(chart: ui.echart, lines: Sequence[Line]) -> None:
    """Replace the chart's lines (e.g. when a new edge appears); their data starts empty."""
    chart.options["series"] = [_series(line) for line in lines]
    chart.options["legend"]["show"] = len(lines) > 1
    chart.update()
