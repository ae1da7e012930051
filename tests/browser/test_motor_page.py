"""The motor page in headless Chromium: 3D twin, live values, and the Emergency Reboot that
really resets the (simulated) controller on its pty, shown as it goes through its lifecycle."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from tests.browser.conftest import Dash, Stack, running_up

pytestmark = pytest.mark.browser

MOTOR = "stm32-motor-01"


@pytest.fixture(scope="module")
def motor_stack(chromium: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``edgetwin up`` with only the motor pack (its own stack: the shared one runs the factory)."""
    with running_up(tmp_path_factory.mktemp("edgetwin-motor"), EDGETWIN_PACKS='["motor"]') as up:
        up.wait_for(
            "motor readings in the store",
            lambda: any(d["machine"] == MOTOR for d in up.get("/api/v1/devices")),
            30,
        )
        yield up


def _uptime(stack: Stack) -> float:
    devices = stack.get("/api/v1/devices")
    return float(next(d for d in devices if d["machine"] == MOTOR)["metrics"]["uptime"]["value"])


def test_emergency_reboot_resets_the_device(motor_stack: Stack, page: Page, dash: Dash) -> None:
    motor_stack.login(page, "/motor")
    page.get_by_test_id("motor-scene").wait_for()
    dash.poll("a live temperature", lambda: dash.number("motor-temp") is not None)
    dash.poll("the status badge", lambda: page.get_by_test_id("motor-status").get_attribute(
        "data-state") in ("RUNNING", "ANOMALY"))  # fmt: skip
    motor_stack.wait_for("2 s of uptime", lambda: _uptime(motor_stack) > 2.0, 10)
    dash.poll("chart points", lambda: sum(dash.chart_points("chart-temperature")) > 5)
    dash.screenshot("motor-page.png")

    page.get_by_test_id("reboot").click()
    state = page.get_by_test_id("cmd-state")
    seen: list[str] = []

    def succeeded() -> bool:
        st = state.get_attribute("data-state") or ""
        if st and (not seen or seen[-1] != st):
            seen.append(st)
        assert st not in ("failed", "expired"), f"command {st}: {page.inner_text('body')[-400:]}"
        return st == "succeeded"

    dash.poll("the reboot to succeed", succeeded, timeout=3.0)
    assert seen[-1] == "succeeded"
    # the device really restarted: its uptime began again from zero
    assert float(dash.value("motor-uptime")) < 2.0
    cmds = motor_stack.get(f"/api/v1/devices/{MOTOR}/commands")
    assert cmds[0]["state"] == "succeeded"
    assert cmds[0]["requested_by"] == "ada"  # the user who clicked (the admin test user)
    assert [h["state"] for h in cmds[0]["history"]] == ["queued", "sent", "delivered", "succeeded"]
    assert cmds[0]["detail"]["uptime_after"] < 1.0 < cmds[0]["detail"]["uptime_before"]
    dash.poll("every lifecycle step lit", lambda: all(
        page.get_by_test_id(f"step-{s}").get_attribute("data-state") == s
        for s in ("queued", "sent", "delivered", "succeeded")))  # fmt: skip
    dash.screenshot("motor-page-rebooted.png")


def _history_max(page: Page, testid: str, before_ms: float) -> float | None:
    """The highest value the chart ``testid`` draws at times before ``before_ms``."""
    top: float | None = page.get_by_test_id(testid).evaluate(
        "(el, before) => { const c = getElement(el).chart; if (!c) return null;"
        " const vs = c.getOption().series[0].data.filter(p => p[0] < before && p[1] != null)"
        ".map(p => p[1]); return vs.length ? Math.max(...vs) : null; }",
        before_ms,
    )
    return top


def test_reloaded_history_keeps_the_vibration_spikes(
    motor_stack: Stack, page: Page, dash: Dash
) -> None:
    """The history a reload draws comes from the store in 1 s buckets of 10 Hz readings; a
    +1.5 g spike (about one reading in ten) must still show above the 1.0 g alert line, as the
    live points show it, not averaged down to about 0.15."""
    motor_stack.wait_for(
        "a spike above 1.0 g in the store",
        lambda: any(
            b["max"] > 1.0
            for b in motor_stack.get(
                "/api/v1/series", line="line-m", machine=MOTOR, metric="vibration",
                minutes=2, bucket_seconds=1,
            )["points"]
        ),
        30,
    )  # fmt: skip
    opened = time.time() * 1000
    motor_stack.login(page, "/motor")
    page.get_by_test_id("chart-vibration").wait_for()
    top = dash.poll(
        "history on the vibration chart",
        lambda: _history_max(page, "chart-vibration", opened - 1000),
    )
    assert top > 1.0, f"the history's highest vibration is {top} g"
    dash.screenshot("motor-page-history.png")


def test_a_viewer_sees_the_motor_but_no_reboot_button(
    motor_stack: Stack, page: Page, dash: Dash
) -> None:
    motor_stack.login(page, "/motor", role="viewer")
    dash.poll("a temperature", lambda: dash.number("motor-temp"))
    expect(page.get_by_test_id("lifecycle")).to_be_visible()
    assert page.get_by_test_id("reboot").count() == 0
    expect(page.get_by_text("Commands need the operator role.")).to_be_visible()
    dash.screenshot("motor-page-viewer.png")
