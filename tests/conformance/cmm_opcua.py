"""Conformance case of the ``cmm_opcua`` sink: a real asyncua client browses ``CMM_01``, checks
the types and units, subscribes to ``Compensated_Length_mm`` and receives every new value, fed
through a real buffer and forwarder; then the values go stale (Uncertain, then Bad)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.client.client import Client

from edgetwin.core.plugins import PluginContext
from edgetwin.core.point import Point
from edgetwin.edge.alerts import Alerts
from edgetwin.edge.buffer import SqliteBuffer
from edgetwin.edge.forwarder import Forwarder
from edgetwin.packs.cmm.opcua import OpcUaSink, OpcUaSinkConfig
from tests.conftest import free_port
from tests.integration.cmm_pump import measurements

TYPES = {
    "Temperature_C": ua.VariantType.Double, "Measured_Length_mm": ua.VariantType.Double,
    "Compensated_Length_mm": ua.VariantType.Double, "Deviation_um": ua.VariantType.Double,
    "Verdict": ua.VariantType.String, "Device_Status": ua.VariantType.String,
    "Last_Update": ua.VariantType.DateTime, "Buffer_Depth": ua.VariantType.UInt32,
}  # fmt: skip


class Collect:
    """asyncua subscription handler: keeps each notified value."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def datachange_notification(self, _node: Any, value: Any, _data: Any) -> None:
        if not self.values or value != self.values[-1]:  # not a status change alone
            self.values.append(value)


async def _until(cond: Any, what: str, limit_s: float = 20) -> None:
    for _ in range(int(limit_s / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not in {limit_s} s: {what}")


def opcua_case(tmp_path: Path) -> None:
    n = 6
    points = asyncio.run(measurements(tmp_path / "inbox", tmp_path, n))
    url = f"opc.tcp://127.0.0.1:{free_port()}/edgetwin/"
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts())
    sink = OpcUaSink.from_config("opcua", OpcUaSinkConfig(url=url, stale_s=1.5), ctx)
    by_measurement = [points[i * 8 : (i + 1) * 8] for i in range(n)]
    want = [p.value for p in points if p.metric == "compensated_length"]

    async def scenario() -> None:
        with SqliteBuffer(tmp_path / "b.db", sinks=("opcua",)) as buf:
            fwd = Forwarder(buf.outbox("opcua"), sink, batch=100, max_backoff_s=0.02)
            task = asyncio.create_task(fwd.run())
            try:
                await _until(lambda: sink.server is not None, "the server started")
                await _client_checks(url, buf, by_measurement, want)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())


async def _client_checks(
    url: str, buf: SqliteBuffer, by_measurement: list[list[Point]], want: list[float]
) -> None:
    async with Client(url=url, timeout=10) as client:
        idx = await client.get_namespace_index("urn:edgetwin:cmm")
        cmm = await client.nodes.objects.get_child(f"{idx}:CMM_01")
        names = {(await c.read_browse_name()).Name: c for c in await cmm.get_children()}
        assert set(names) == set(TYPES)
        for name, vtype in TYPES.items():
            assert (await names[name].read_data_type()) == ua.NodeId(vtype.value)
        eu = await (
            await names["Compensated_Length_mm"].get_child("0:EngineeringUnits")
        ).read_value()
        assert (eu.UnitId, eu.DisplayName.Text) == (5066068, "mm")  # UNECE "MMT"
        first = await names["Compensated_Length_mm"].read_data_value(raise_on_bad_status=False)
        assert first.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData
        handler = Collect()
        sub = await client.create_subscription(20, handler)
        await sub.subscribe_data_change(names["Compensated_Length_mm"])
        await _until(lambda: len(handler.values) == 1, "the initial notification")
        for k, group in enumerate(by_measurement):
            buf.put(group)
            await _until(lambda k=k: len(handler.values) == k + 2, f"measurement {k + 1}")
        assert handler.values[1:] == want  # each new value, in order
        dv = await names["Compensated_Length_mm"].read_data_value(raise_on_bad_status=False)
        assert dv.StatusCode.is_good() or dv.StatusCode.is_uncertain()
        assert dv.SourceTimestamp == by_measurement[-1][0].ts  # the measurement's time
        assert await names["Verdict"].read_value() in ("PASS", "FAIL")
        for status in ("is_uncertain", "is_bad"):
            for _ in range(200):
                dv = await names["Temperature_C"].read_data_value(raise_on_bad_status=False)
                if getattr(dv.StatusCode, status)():
                    break
                await asyncio.sleep(0.05)
            assert getattr(dv.StatusCode, status)(), f"stale values: {status}"
        await sub.delete()
