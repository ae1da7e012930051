"""The simulated CMM: one CSV file per measurement into a drop folder, as real instruments do.

Every 5 s of simulated time (``speed``× faster on the wall clock) it measures the part
(:mod:`edgetwin.packs.cmm.model`) and writes ``<data-dir>/cmm/inbox/cmm_<time>_<serial>.csv``
with the reference's columns and a part serial::

    Timestamp,Simulated_Temperature_C,True_Part_Length_mm,Observed_Part_Length_mm,Part_Serial
    2026-12-01T10:30:00.000Z,21.545,100.0036,100.0042,AL-674c1a2b-00001

A file appears complete at once: it is written under a temporary name (``.<name>.tmp``, which
the edge ignores) and renamed. With ``slow_writes`` it is written straight into its final name,
in pieces, slowly (as a CMM on a network share does), so the edge must wait until it is whole.
It never deletes a file: the edge moves what it processed to ``done/``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edgetwin.core.point import format_ts
from edgetwin.core.settings import Settings
from edgetwin.packs.cmm.model import INTERVAL_S, Measurement, measure

HEADER = "Timestamp,Simulated_Temperature_C,True_Part_Length_mm,Observed_Part_Length_mm,Part_Serial"


def inbox(data_dir: Path) -> Path:
    """The drop folder the simulator writes and the edge's ``cmm`` source watches."""
    return data_dir / "cmm" / "inbox"


def render(m: Measurement, ts: datetime, serial: str) -> str:
    """The CSV text of one measurement (reference precision: 3 dp °C, 4 dp mm)."""
    row = (
        f"{format_ts(ts)},{m.temperature_c:.3f},{m.true_length_mm:.4f},"
        f"{m.observed_length_mm:.4f},{serial}"
    )
    return f"{HEADER}\n{row}\n"


def write_file(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` as ``folder/name`` atomically: a temporary name, fsync, then a rename."""
    tmp = folder / f".{name}.tmp"
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    final = folder / name
    tmp.rename(final)
    return final


async def write_slowly(
    folder: Path, name: str, text: str, pieces: int = 4, pause: float = 0.4
) -> Path:
    """Write ``text`` straight into ``folder/name`` in ``pieces``, ``pause`` s apart."""
    path = folder / name
    size = max(1, -(-len(text) // pieces))
    with path.open("w", encoding="utf-8", newline="") as fh:
        for i in range(0, len(text), size):
            fh.write(text[i : i + size])
            fh.flush()
            await asyncio.sleep(pause)
    return path


async def run(
    folder: Path,
    *,
    speed: float = 1.0,
    slow_writes: bool = False,
    count: int | None = None,
    seed: int | None = None,
    start: datetime | None = None,
) -> int:
    """Write measurements into ``folder`` until cancelled (or ``count`` of them); returns how
    many were written. Simulated time starts at ``start`` (default: now) and runs ``speed``×."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    rng = random.Random(seed)
    t0 = start or datetime.now(UTC)
    run_id = f"{int(t0.timestamp()):x}"
    wall0 = time.monotonic()
    n = 0
    while count is None or n < count:
        t = n * INTERVAL_S
        ts = t0 + timedelta(seconds=t)
        serial = f"AL-{run_id}-{n + 1:05d}"
        name = f"cmm_{ts.strftime('%Y%m%dT%H%M%S%f')[:-3]}_{serial}.csv"
        text = render(measure(t, rng), ts, serial)
        if slow_writes:
            await write_slowly(folder, name, text)
        else:
            write_file(folder, name, text)
        n += 1
        delay = wall0 + n * INTERVAL_S / speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return n


async def simulate(settings: Settings, *, speed: float = 1.0, slow_writes: bool = False) -> None:
    """``edgetwin sim cmm``: the simulated CMM writing into ``<data-dir>/cmm/inbox``."""
    await run(inbox(settings.data_dir), speed=speed, slow_writes=slow_writes)
