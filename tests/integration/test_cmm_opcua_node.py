"""The cmm pack's OPC UA server seen by a client other than asyncua: node-opcua (npm) browses
``CMM_01``, reads the data types, and its subscription to ``Compensated_Length_mm`` receives each
new value, in order, with the measurement's time as source timestamp.

The first run on a machine installs the client (``npm ci`` in ``tests/node``) and node-opcua makes
its client certificate (about 15 s on two cores): hence the generous limits per line."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest

from edgetwin.core.plugins import BatchInfo, PluginContext
from edgetwin.edge.alerts import Alerts
from edgetwin.packs.cmm.opcua import OpcUaSink, OpcUaSinkConfig
from tests.conftest import free_port, need
from tests.integration.cmm_pump import measurements

NODE_DIR = Path(__file__).parents[1] / "node"


@pytest.fixture(scope="module")
def node_client() -> Path:
    need(shutil.which("node") is not None and shutil.which("npm") is not None, "node and npm")
    if not (NODE_DIR / "node_modules" / "node-opcua-client").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=600)  # fmt: skip
    return NODE_DIR / "cmm_client.mjs"


def test_node_opcua_browses_and_subscribes(tmp_path: Path, node_client: Path) -> None:
    n = 5
    points = asyncio.run(measurements(tmp_path / "inbox", tmp_path, n))
    url = f"opc.tcp://127.0.0.1:{free_port()}/edgetwin/"
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts())
    sink = OpcUaSink.from_config("opcua", OpcUaSinkConfig(url=url), ctx)
    lines: list[dict[str, object]] = []

    async def scenario() -> None:
        async with sink:
            proc = await asyncio.create_subprocess_exec(
                "node", str(node_client), url, str(n), cwd=NODE_DIR,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert proc.stdout is not None
            try:

                async def line() -> dict[str, object]:
                    """The client's next JSON line (node-opcua logs its own lines too)."""
                    while True:
                        raw = await asyncio.wait_for(proc.stdout.readline(), 180)  # type: ignore[union-attr]
                        if not raw:
                            err = await proc.stderr.read()  # type: ignore[union-attr]
                            raise AssertionError(f"node client ended: {err.decode()[-2000:]}")
                        if raw.startswith(b"{"):
                            got: dict[str, object] = orjson.loads(raw)
                            lines.append(got)
                            return got

                while "ready" not in await line():
                    pass
                for k in range(n):
                    group = points[k * 8 : (k + 1) * 8]
                    await sink.write([p.to_json() for p in group], BatchInfo(False, 0, None))
                    while "value" not in await line():
                        pass
                assert await asyncio.wait_for(proc.wait(), 30) == 0
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    asyncio.run(scenario())
    browse = lines[0]["browse"]
    assert browse == {
        "Temperature_C": "Double", "Measured_Length_mm": "Double",
        "Compensated_Length_mm": "Double", "Deviation_um": "Double", "Verdict": "String",
        "Device_Status": "String", "Last_Update": "DateTime", "Buffer_Depth": "UInt32",
    }  # fmt: skip
    values = [ln for ln in lines if "value" in ln]
    assert [v["value"] for v in values] == [
        p.value for p in points if p.metric == "compensated_length"
    ]
    stamps = [p.ts for p in points if p.metric == "compensated_length"]
    assert [v["source_ts"] for v in values] == [
        ts.isoformat(timespec="milliseconds").replace("+00:00", "Z") for ts in stamps
    ]
