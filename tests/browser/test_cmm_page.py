"""The CMM pack with ``edgetwin up``: the page shows live measurements and verdicts beside the
temperature-blind ones, the MES sink's backlog and state, and the OPC UA server's clients (one
while a client is subscribed, none after); the MES gets the records, and an OPC UA client
browsing ``CMM_01`` receives each new compensated length through its subscription. The stack runs the cmm pack
alone, on free ports (the MES's and the OPC UA server's too)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asyncua.client.client import Client
from playwright.sync_api import Page
from tests.browser.conftest import Dash, Stack, _free_ports, running_up

from edgetwin.core.status import SinkStatus


@pytest.fixture(scope="module")
def cmm_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str, str]]:
    work = tmp_path_factory.mktemp("cmm")
    mes_port, opcua_port = _free_ports(2)
    mes_url = f"http://127.0.0.1:{mes_port}"
    opcua_url = f"opc.tcp://127.0.0.1:{opcua_port}/edgetwin/"
    # the pack's MES sink ({mes_url} in its snippet) and the mock MES both follow the setting
    env = {"EDGETWIN_PACKS": '["cmm"]', "EDGETWIN_OPCUA_URL": opcua_url,
           "EDGETWIN_MES_URL": mes_url}  # fmt: skip
    with running_up(work, **env) as stack:
        yield stack, mes_url, opcua_url


class Collect:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def datachange_notification(self, _node: Any, value: Any, _data: Any) -> None:
        self.values.append(value)


async def _subscribe(url: str, new_values: int) -> list[Any]:
    async with Client(url=url, timeout=10) as client:
        idx = await client.get_namespace_index("urn:edgetwin:cmm")
        node = await client.nodes.objects.get_child(
            [f"{idx}:CMM_01", f"{idx}:Compensated_Length_mm"]
        )
        handler = Collect()
        sub = await client.create_subscription(100, handler)
        await sub.subscribe_data_change(node)
        for _ in range(int(60 / 0.1)):  # a measurement every 5 s
            if len(handler.values) >= new_values + 1:
                break
            await asyncio.sleep(0.1)
        await sub.delete()
        return handler.values


def test_the_cmm_page_mes_and_opcua_with_edgetwin_up(
    cmm_stack: tuple[Stack, str, str], page: Page, dash: Dash
) -> None:
    stack, mes_url, opcua_url = cmm_stack
    stack.login(page, "/cmm")
    dash.poll("two parts judged", lambda: (dash.number("cmm-parts") or 0) >= 2, timeout=60)
    badge = page.get_by_test_id("cmm-verdict-badge").inner_text().strip()
    assert badge in ("PASS", "FAIL")
    assert dash.number("cmm-failed") == 0  # compensated: good parts pass
    assert 99.99 < (dash.number("cmm-compensated") or 0) < 100.01
    assert dash.value("cmm-opcua").endswith(opcua_url.split(":")[2].split("/")[0])
    dash.poll("the MES sink's state", lambda: "ok" in page.get_by_test_id("cmm-mes").inner_text())
    assert dash.number("cmm-mes") is not None  # the MES's outbox depth
    dash.poll("the chart's lines", lambda: dash.chart_points("cmm-chart")[0] >= 2)
    # A sink's own report (sinks.<name>.stats) reaches the cloud once the edge's status has it.
    reported = "stats" in SinkStatus.model_fields
    if reported:
        assert "security None" in page.get_by_test_id("cmm-opcua").inner_text()
        dash.poll("no OPC UA client yet", lambda: dash.number("cmm-opcua-clients") == 0)
    else:
        assert "does not report" in page.get_by_test_id("cmm-opcua-clients").inner_text()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's loop holds this thread
        subscribed = pool.submit(asyncio.run, _subscribe(opcua_url, 2))
        if reported:
            dash.poll("the subscribed client", lambda: dash.number("cmm-opcua-clients") == 1, 30)
            assert "1 subscription" in page.get_by_test_id("cmm-opcua-clients").inner_text()
        dash.screenshot("cmm-page.png")
        values = subscribed.result(90)
    if reported:
        dash.poll("the client gone", lambda: dash.number("cmm-opcua-clients") == 0, 30)
    assert len(values) >= 3  # the current value, then each new one
    assert all(99.99 < v < 100.01 for v in values[1:])
    held = httpx.get(f"{mes_url}/api/v1/cmm/measurements", timeout=5).json()["records"]
    assert [r["measurement"] for r in held] == list(range(1, len(held) + 1))
    assert held
    assert all(r["part_serial"] for r in held)
