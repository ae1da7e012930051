"""The factory page against a running stack: KPIs, nine machine charts, and fault switches that
send real commands and show what the simulated machines report."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from edgetwin.security import IdentityStore

pytestmark = pytest.mark.browser

MACHINES = (
    "cnc-01", "cnc-02", "robot-arm-01",
    "press-01", "conveyor-01", "robot-arm-02",
    "welder-01", "welder-02", "inspection-01",
)  # fmt: skip
KPIS = (
    "kpi-temp",
    "kpi-vibration",
    "kpi-energy",
    "kpi-good",
    "kpi-bad",
    "kpi-faults",
    "kpi-points",
)
FAULTS = ("bearing_fault", "energy_spike", "network_outage")


@pytest.fixture
def faults_off(stack) -> Iterator[None]:
    """Whatever a test switched on is switched off again, so later tests see a healthy plant."""
    yield
    for cmd in ("bearing_fault", "energy_spike"):
        stack.post(f"/api/v1/faults/{cmd}", value=False)
    stack.wait_for(
        "the simulator to report no fault",
        lambda: not any(stack.get("/api/v1/faults")["faults"].values()),
        15,
    )


def test_factory_page_shows_kpis_machines_and_switches(stack, page: Page, dash) -> None:
    stack.login(page, "/factory")

    for kpi in KPIS:
        dash.poll(f"a number on {kpi}", lambda kpi=kpi: dash.number(kpi) is not None)
    assert 30 < dash.number("kpi-temp") < 80
    assert dash.number("kpi-points") > 0

    charts = page.locator("[data-testid^=machine-chart-]")
    expect(charts).to_have_count(len(MACHINES))
    for machine in MACHINES:
        chart = f"machine-chart-{machine}"
        expect(page.get_by_test_id(chart).locator("canvas").first).to_be_visible()
        dash.poll(
            f"temperature and vibration on {chart}", lambda c=chart: min(dash.chart_points(c)) >= 2
        )
        expect(page.get_by_test_id(f"machine-{machine}-state")).to_have_attribute(
            "data-state", re.compile("^(run|stop)$")
        )
    for line in ("line-01", "line-02", "line-03"):
        expect(page.get_by_test_id(f"line-{line}")).to_contain_text("avg")

    for cmd in FAULTS:
        expect(page.get_by_test_id(f"fault-{cmd}-switch")).to_be_visible()
        expect(page.get_by_test_id(f"fault-{cmd}-state")).to_have_attribute("data-state", "off")
    # A few more points, so the screenshot shows lines rather than segments.
    dash.poll(
        "a few buckets on the charts", lambda: min(dash.chart_points("machine-chart-cnc-01")) >= 4
    )
    dash.screenshot("factory.png")


def test_bearing_fault_switch_drives_the_machines(stack, page: Page, dash, faults_off) -> None:
    stack.login(page, "/factory")
    switch = page.get_by_test_id("fault-bearing_fault-switch")
    state = page.get_by_test_id("fault-bearing_fault-state")
    expect(state).to_have_attribute("data-state", "off")
    baseline = dash.poll("the average temperature", lambda: dash.number("kpi-temp"))

    clicked_ms = page.evaluate("Date.now()")
    switch.click()
    # The badge shows what the simulator reports, not just what we asked for.
    expect(state).to_have_attribute("data-state", "on", timeout=10_000)
    expect(switch).to_have_attribute("aria-checked", "true")
    assert stack.get("/api/v1/faults")["faults"]["bearing_fault"] is True
    expect(page.get_by_test_id("machine-cnc-01-state")).to_have_attribute(
        "data-state", "fault", timeout=10_000
    )
    dash.poll(
        f"the average temperature to rise above {baseline:.1f} °C + 2",
        lambda: (dash.number("kpi-temp") or 0) > baseline + 2,
        timeout=20,
    )
    dash.poll("fault readings to be counted", lambda: (dash.number("kpi-faults") or 0) > 0)
    dash.poll(
        "the charts to reach past the command",
        lambda: dash.chart_last_time("machine-chart-cnc-01") > clicked_ms,
        timeout=20,
    )
    dash.screenshot("factory-bearing-fault.png")

    switch.click()
    expect(state).to_have_attribute("data-state", "off", timeout=10_000)
    expect(switch).to_have_attribute("aria-checked", "false")
    assert stack.get("/api/v1/faults")["faults"]["bearing_fault"] is False


def test_switch_follows_a_command_sent_elsewhere(stack, page: Page, dash, faults_off) -> None:
    stack.login(page, "/factory")
    switch = page.get_by_test_id("fault-energy_spike-switch")
    state = page.get_by_test_id("fault-energy_spike-state")
    expect(state).to_have_attribute("data-state", "off")

    stack.post("/api/v1/faults/energy_spike", value=True)  # as mosquitto_pub would
    expect(state).to_have_attribute("data-state", "on", timeout=10_000)
    expect(switch).to_have_attribute("aria-checked", "true")

    stack.post("/api/v1/faults/energy_spike", value=False)
    expect(state).to_have_attribute("data-state", "off", timeout=10_000)
    expect(switch).to_have_attribute("aria-checked", "false")


def test_stop_and_start_one_machine_from_its_panel(stack, page: Page, dash) -> None:
    """A device command from the dashboard: its lifecycle shows on the machine's panel, the
    machine idles, and the button turns into Start."""
    stack.login(page, "/factory")
    toggle = page.get_by_test_id("machine-press-01-toggle")
    command = page.get_by_test_id("machine-press-01-command")
    state = page.get_by_test_id("machine-press-01-state")
    expect(toggle).to_be_visible()

    toggle.click()
    try:
        expect(command).to_have_attribute("data-state", "succeeded", timeout=10_000)
        expect(command).to_contain_text("STOP")
        expect(toggle).to_contain_text("play_circle", timeout=5_000)  # the icon: now Start
        expect(state).to_have_attribute("data-state", "stop", timeout=10_000)
        dash.poll(
            "a few points on press-01's chart",
            lambda: min(dash.chart_points("machine-chart-press-01")) >= 3,
            timeout=20,
        )
        dash.screenshot("factory-machine-stopped.png")
    finally:
        toggle.click()
    expect(command).to_contain_text("START", timeout=5_000)
    expect(command).to_have_attribute("data-state", "succeeded", timeout=10_000)
    expect(toggle).to_contain_text("stop_circle", timeout=5_000)
    expect(state).to_have_attribute("data-state", "run", timeout=10_000)
    # audited as the API's commands are, by the user who clicked
    with IdentityStore(stack.data_dir) as store:
        entries = store.audit_entries(frozenset({"acme"}), limit=50)
    mine = [(e.caller, e.target, e.outcome) for e in entries if e.action == "command"]
    assert ("ada", "plant-01/line-02/press-01:START", "queued") in mine, mine
    assert ("ada", "plant-01/line-02/press-01:STOP", "queued") in mine, mine
