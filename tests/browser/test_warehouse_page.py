"""The warehouse pack with ``edgetwin up`` in a browser: an operator's Store order moves the HBW
in the 3D scene and puts a raw cookie in the slot's card; the e-stop latches and shows who
pressed it until Reset; a viewer sees the page without the control panel; the analytics page
answers for 30 days of history. The device runs at 10x speed (a store order takes ~7 s)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page
from tests.browser.conftest import Dash, Stack, running_up

from edgetwin.packs.warehouse.history import write_history
from edgetwin.packs.warehouse.store import WarehouseStore

API = "/api/v1/warehouse"


@pytest.fixture(scope="module")
def wh_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("warehouse")
    store = WarehouseStore(f"sqlite:///{work / 'data' / 'warehouse.db'}")
    store.open()  # 30 days of history up to now, before the cloud starts (~1 s to write)
    try:
        write_history(store, "acme", "plant-01", days=30, end=datetime.now(UTC))
    finally:
        store.close()
    with running_up(work, EDGETWIN_PACKS="warehouse", EDGETWIN_WAREHOUSE_SPEED="10") as stack:
        stack.wait_for(
            "the warehouse in Idle",
            lambda: stack.get(f"{API}/hardware")["machine_state"] == "Idle",
            40,
        )
        stack.wait_for(
            "the warehouse's readings",
            lambda: any(d["machine"] == "warehouse" for d in stack.get("/api/v1/devices")),
            30,
        )
        yield stack


def _state(page: Page, testid: str) -> str | None:
    return page.get_by_test_id(testid).get_attribute("data-state")


def test_an_order_visibly_moves_the_robots_and_fills_the_slot(
    wh_stack: Stack, page: Page, dash: Dash
) -> None:
    wh_stack.login(page, "/warehouse", role="operator")
    dash.poll("the PackML state", lambda: _state(page, "wh-state") == "Idle", 20)
    dash.poll("the rack", lambda: _state(page, "slot-B2-state") == "empty", 10)
    page.get_by_test_id("wh-slot").click()
    page.get_by_role("option", name="B2", exact=True).click()
    page.get_by_test_id("wh-store").click()
    dash.poll(
        "the command's record", lambda: "STORE" in page.get_by_test_id("wh-command").inner_text()
    )
    seen: list[dict[str, float]] = []

    def stored() -> bool:
        seen.append(wh_stack.get(f"{API}/hardware")["axes"])
        if len(seen) == 8:
            dash.screenshot("warehouse-moving.png")
        return _state(page, "slot-B2-state") == "RAW_DOUGH"

    dash.poll("a raw cookie in B2", stored, 30)
    assert max(a.get("hbw.x", 0.0) for a in seen) > 50  # the HBW went to the slot's column
    assert max(a.get("conveyor.belt", 0.0) for a in seen) > 100  # the belt ran
    dash.poll("the order done", lambda: _state(page, "wh-command") == "succeeded", 15)
    assert "otto" in page.get_by_test_id("wh-orders-list").inner_text()
    dash.screenshot("warehouse-stored.png")

    page.get_by_test_id("wh-estop-button").click()
    dash.poll("the e-stop latched", lambda: _state(page, "wh-estop") == "latched", 10)
    assert "otto" in page.get_by_test_id("wh-estop").inner_text()
    dash.poll(
        "the e-stop alert",
        lambda: "pressed by otto" in page.get_by_test_id("wh-alerts").inner_text(),
        10,
    )
    page.get_by_test_id("wh-reset").click()
    dash.poll("the latch released", lambda: _state(page, "wh-estop") == "clear", 15)


def test_a_viewer_sees_no_control_panel(wh_stack: Stack, page: Page, dash: Dash) -> None:
    wh_stack.login(page, "/warehouse", role="viewer")
    dash.poll("the page", lambda: page.get_by_test_id("wh-scene").is_visible())
    assert page.get_by_test_id("wh-control").count() == 0
    assert page.get_by_test_id("wh-estop-button").count() == 0
    assert page.get_by_test_id("motor-HBW_X_MOTOR").is_visible()


def test_the_analytics_page(wh_stack: Stack, page: Page, dash: Dash) -> None:
    wh_stack.login(page, "/warehouse/analytics", role="viewer")
    dash.poll("the figures", lambda: dash.number("wa-took") is not None)
    page.get_by_test_id("wa-range").get_by_text("7d").click()
    dash.poll("seven days", lambda: "per 6 h" in page.get_by_test_id("wa-orders").inner_text())
    href = page.get_by_test_id("wa-export-energy").get_attribute("href")
    assert href is not None
    assert "table=energy" in href
    page.get_by_test_id("wa-range").get_by_text("30d").click()
    dash.poll("thirty days", lambda: "per day" in page.get_by_test_id("wa-orders").inner_text())
    assert (dash.number("wa-orders") or 0) > 5000  # the history's orders
    assert (dash.number("wa-energy") or 0) > 1000
    dash.screenshot("warehouse-analytics.png")
