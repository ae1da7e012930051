"""An outage long enough to fill the edge's buffer: the drops are counted and the alert is shown
on the dashboard's overview and in /api/v1/stats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page
from tests.browser.conftest import login
from tests.integration.conftest import Stack, wait_for

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("small"), env={"EDGETWIN_BUFFER_MAX_BYTES": str(64 * 1024)})
    s.start()
    yield s
    s.stop()


def test_buffer_full_alert_on_the_overview(small_stack: Stack, page: Page) -> None:
    s = small_stack
    assert s.http.post("/api/v1/faults/network_outage", params={"value": "true"}).status_code == 200
    edge = wait_for(
        lambda: (e := s.get("/api/v1/stats")["edges"]) and e[0]["dropped"] and e[0],
        40,
        what="the buffer to fill and drop",
    )
    assert edge["buffer_state"] == "full"
    alerts = {a["kind"]: a for a in s.get("/api/v1/stats")["alerts"]}
    assert alerts["buffer_full"]["active"]
    assert "dropped" in alerts["buffer_full"]["message"]

    login(page, s.base, s.data_dir, "/")
    alert = page.get_by_test_id("alert-buffer_full")
    alert.wait_for()
    assert alert.get_attribute("data-active") == "true"
    assert "dropped" in alert.inner_text()
    dropped = page.get_by_test_id("edge-edge-01-dropped")
    wait_for(lambda: int(dropped.inner_text().replace(",", "")) > 0, 10, what="dropped on the card")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "overview-buffer-full.png"), full_page=True)

    assert (
        s.http.post("/api/v1/faults/network_outage", params={"value": "false"}).status_code == 200
    )
    wait_for(lambda: s.get("/api/v1/stats")["edges"][0]["buffer_depth"] < 60, 30, what="drain")
    stats = s.get("/api/v1/stats")
    total_dropped = sum(stats["edges"][0]["dropped"].values())
    # every reading the edge accepted is either stored or counted as dropped
    wait_for(
        lambda: (
            s.get("/api/v1/stats")["edges"][0]["accepted_total"]
            <= s.get("/api/v1/stats")["stored"] + total_dropped + 60
        ),
        10,
        what="accounting to settle",
    )
