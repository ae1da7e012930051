"""A drop-folder source pumping into a real buffer the way the edge's runtime does (commit,
then ack), as a process a test can kill -9: ``python -m tests.integration.cmm_pump FOLDER DIR``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from edgetwin.core.plugins import PluginContext
from edgetwin.core.point import Point
from edgetwin.edge.alerts import Alerts
from edgetwin.edge.buffer import SqliteBuffer
from edgetwin.edge.sources.dropfolder import Column, DropFolderConfig, DropFolderSource


def config(folder: Path, settle_s: float = 0.3) -> DropFolderConfig:
    """The CMM's columns, as the pack's pipeline snippet maps them."""
    return DropFolderConfig(
        path=str(folder),
        line="metrology",
        machine="cmm-01",
        columns={
            "temperature": Column(column="Simulated_Temperature_C", unit="°C"),
            "length": Column(column="Observed_Part_Length_mm", unit="mm"),
        },
        texts={"part_serial": "Part_Serial"},
        seq_metric="measurement",
        settle_s=settle_s,
    )


async def main(folder: Path, data_dir: Path) -> None:
    ctx = PluginContext("acme", "plant-01", "edge-01", data_dir, Alerts())
    source = DropFolderSource("cmm", config(folder), ctx)
    with SqliteBuffer(data_dir / "buffer.db") as buf:
        async with source:
            (data_dir / "pump.ready").write_text("1")
            async for delivery in source.deliveries():
                buf.put(delivery.points)
                delivery.ack()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))


async def measurements(folder: Path, data_dir: Path, n: int, seed: int = 7) -> list[Point]:
    """``n`` simulated measurements through the real drop folder and compensation: the readings
    the edge buffers for them (8 per measurement), in order; the serials stay in ``data_dir``."""
    from edgetwin.packs.cmm import sim
    from edgetwin.packs.cmm.processor import CompensationConfig, CompensationProcessor

    await sim.run(folder, speed=1e9, count=n, seed=seed)
    ctx = PluginContext("acme", "plant-01", "edge-01", data_dir, Alerts())
    proc = CompensationProcessor("cmm_compensation", CompensationConfig())
    out: list[Point] = []
    async with DropFolderSource("cmm", config(folder, settle_s=0.0), ctx) as source:
        async for delivery in source.deliveries():
            out += proc.process(list(delivery.points))
            delivery.ack()
            if len(out) >= 8 * n:
                return out
    return out
