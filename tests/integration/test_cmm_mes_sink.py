"""The MES sink's answers to what a real MES and a real buffer do: a record the MES refuses for
good goes to dead letters and the next one goes on; a measurement that never comes complete
holds the later ones back only for ``gap_timeout_s``, then it is skipped, logged and alerted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgetwin.core.plugins import BatchInfo, PluginContext
from edgetwin.core.point import Point
from edgetwin.edge.alerts import Alerts
from edgetwin.packs.cmm.mes import MesSink, MesSinkConfig
from edgetwin.packs.cmm.mes_sim import MockMes
from tests.integration.cmm_pump import measurements

INFO = BatchInfo(historical=False, waiting=0, oldest_age_s=None)


@pytest.fixture
def mes() -> Iterator[MockMes]:
    server = MockMes(seed=1, latency=(0.0, 0.0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.server.shutdown()


def _groups(tmp_path: Path, n: int) -> list[list[bytes]]:
    points: list[Point] = asyncio.run(measurements(tmp_path / "inbox", tmp_path, n))
    return [[p.to_json() for p in points[i * 8 : (i + 1) * 8]] for i in range(n)]


def test_a_refused_record_is_dead_lettered_and_the_next_goes_on(
    tmp_path: Path, mes: MockMes
) -> None:
    groups = _groups(tmp_path, 2)
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts())
    sink = MesSink.from_config("mes", MesSinkConfig(url=mes.url), ctx)

    async def scenario() -> None:
        async with sink:
            await asyncio.to_thread(httpx.post, f"{mes.url}/control", json={"mode": "422"})
            result = await sink.write(groups[0], INFO)
            assert set(result.refused) == set(range(8))  # every reading of the measurement
            assert "422" in result.refused[0]
            await asyncio.to_thread(httpx.post, f"{mes.url}/control", json={"mode": "ok"})
            result = await sink.write(groups[1], INFO)
            assert (result.refused, result.accepted) == ({}, 8)

    asyncio.run(scenario())
    assert [r["measurement"] for r in mes.records] == [2]
    assert sink.counts["refused"] == 1


def test_a_gap_holds_back_only_for_its_timeout(tmp_path: Path, mes: MockMes) -> None:
    groups = _groups(tmp_path, 3)
    alerts = Alerts()
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, alerts)
    sink = MesSink.from_config("mes", MesSinkConfig(url=mes.url, gap_timeout_s=0.3), ctx)

    async def scenario() -> None:
        async with sink:
            await sink.write(groups[0] + groups[2], INFO)  # measurement 2 never comes
            assert [r["measurement"] for r in mes.records] == [1]
            await sink.write([], INFO)
            assert [r["measurement"] for r in mes.records] == [1]  # held back, for now
            await asyncio.sleep(0.4)
            await sink.write([], INFO)

    asyncio.run(scenario())
    assert [r["measurement"] for r in mes.records] == [1, 3]
    assert sink.counts["skipped"] == 1
    assert [a["kind"] for a in alerts.listed()] == ["mes_gap"]
