"""kill -9 of the edge, the cloud and the broker at random moments; the broker and the cloud
stopped for a while. Every reading is counted from the generator to the store."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime

import pytest

from tests.chaos.harness import LONG, Harness, Report
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.chaos
KILLS = 20 if LONG else 3
DOWN_S = 60.0 if LONG else 5.0


def _assert_exact(r: Report) -> None:
    assert r.lost == 0, r
    assert r.duplicated == 0, r
    assert r.out_of_order == 0, r
    assert r.stored == r.sent, r


@pytest.mark.parametrize("part", ["edge", "cloud"])
def test_kill_at_random(
    part: str, harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    h = harness()
    proc, restart = (h.edge, h.start_edge) if part == "edge" else (h.cloud, h.start_cloud)
    rng = random.Random()
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.3, 2.5))
        proc.kill9()
        time.sleep(rng.uniform(0.0, 1.5))
        restart()
    _assert_exact(record(h.report(f"kill -9 {part} x{KILLS}", h.settle())))


def test_cloud_stopped(harness: Callable[..., Harness], record: Callable[[Report], Report]) -> None:
    h = harness()
    time.sleep(2)
    h.cloud.stop()
    time.sleep(DOWN_S)
    depth = h.gen.rate * DOWN_S * 0.8
    h.start_cloud()
    started = time.monotonic()
    h.settle()
    recovery = time.monotonic() - started  # from the restart until everything is stored
    notes = f"~{depth:.0f} readings waited in the edge buffer"
    _assert_exact(record(h.report(f"cloud stopped {DOWN_S:.0f} s", recovery, notes=notes)))


def _broker_report(h: Harness, fault: str, recovery: float) -> Report:
    """Loss inside the broker is not the edge's to prevent; count it apart from edgetwin's own."""
    r = h.report(fault, recovery)
    # The edge reports its totals every 2 s through the broker: wait for one made after settling.
    settled = time.time()
    wait_for(
        lambda: _seconds(h.edge_status().get("reported_at")) > settled + 0.5,
        20,
        what="an edge status report made after settling",
    )
    accepted = int(h.edge_status()["accepted_total"])  # unique readings the edge ever committed
    r.lost_at_broker = r.confirmed - accepted
    r.lost = accepted - r.stored  # accepted by the edge but not stored: must be 0
    r.notes = f"edge accepted {accepted}; broker lost {r.lost_at_broker} it had acknowledged"
    return r


def test_kill_broker_at_random(
    harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    """Mosquitto with persistence saved every second, killed -9: what the edge accepted is
    stored exactly once; anything the broker lost in its last second is counted."""
    h = harness()
    rng = random.Random()
    kills = KILLS if LONG else 2
    for _ in range(kills):
        time.sleep(rng.uniform(1.5, 3.0))
        h.broker.kill9()
        time.sleep(rng.uniform(0.2, 1.0))
        h.restart_broker()
    r = record(_broker_report(h, f"kill -9 broker x{kills} (autosave 1 s)", h.settle()))
    assert r.lost == 0
    assert r.duplicated == 0
    assert r.out_of_order == 0


def test_broker_stopped(
    harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    h = harness()
    time.sleep(2)
    h.broker.stop()
    time.sleep(DOWN_S)
    h.restart_broker()
    time.sleep(3)  # live readings flow again
    r = record(_broker_report(h, f"broker stopped {DOWN_S:.0f} s (persistent)", h.settle()))
    _assert_exact(r)
    assert r.lost_at_broker == 0


def _seconds(iso: str | None) -> float:
    """An ISO 8601 time of the API as UNIX seconds (0 for none)."""
    return 0.0 if not iso else datetime.fromisoformat(iso).timestamp()
