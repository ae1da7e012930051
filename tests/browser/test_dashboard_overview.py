"""The overview page against a running stack: counters, edges, charts, live updates."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_overview_shows_the_pipeline_and_updates_live(stack, page: Page, dash) -> None:
    stack.login(page, "/")
    expect(page.get_by_test_id("nav")).to_contain_text("Factory")

    stored = dash.poll("a stored count", lambda: dash.number("stat-stored"))
    assert stored > 0
    # the factory's 9 machines and the motor
    dash.poll("all devices online", lambda: dash.value("stat-devices") == "10 / 10")
    assert dash.number("stat-rate") is not None
    assert dash.number("stat-duplicates") is not None
    assert dash.number("stat-rejected") is not None

    edge = page.get_by_test_id("edge-edge-01")
    expect(edge).to_be_visible()
    expect(page.get_by_test_id("edge-edge-01-uplink")).to_have_attribute("data-state", "ok")
    expect(page.get_by_test_id("edge-edge-01-online")).to_have_attribute("data-state", "online")
    expect(page.get_by_test_id("edge-edge-01-depth")).to_have_text(re.compile(r"^\d[\d,]*$"))

    for chart in ("chart-buffer", "chart-rate"):
        expect(page.get_by_test_id(chart).locator("canvas").first).to_be_visible()
    dash.poll(
        "points in the buffer-depth chart",
        lambda: min(dash.chart_points("chart-buffer") or [0]) >= 2,
    )
    dash.poll(
        "points in the ingest-rate chart", lambda: min(dash.chart_points("chart-rate") or [0]) >= 2
    )

    # Live: the numbers move without a reload (a factory cycle stores 54 readings every 2 s).
    newest = dash.chart_last_time("chart-rate")
    later = dash.poll(
        "the stored count to grow", lambda: (n := dash.number("stat-stored")) > stored and n
    )
    assert later > stored
    dash.poll("the rate chart to move on", lambda: dash.chart_last_time("chart-rate") > newest)
    dash.screenshot("overview.png")
