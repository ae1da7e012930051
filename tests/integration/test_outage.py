"""network_outage and a kill -9 of the edge, on a Mosquitto of our own: afterwards every one of
the 54 series holds exactly one reading per 2 s cycle across the whole window."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from edgetwin.packs.factory.model import MACHINES, METRICS
from tests.integration.conftest import Mosquitto, Stack, mosquitto_pub, wait_for

pytestmark = pytest.mark.integration
OUTAGE_S = float(os.environ.get("EDGETWIN_TEST_OUTAGE_S", "20"))
CMD = "v1/acme/plant-01/cmd"


@pytest.fixture(scope="module")
def stack(mosquitto: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("outage"), "--mqtt-url", mosquitto.url)
    s.start()
    yield s
    assert s.stop() == 0, s.log()[-3000:]


def _edge(stack: Stack) -> dict[str, object]:
    edges = stack.get("/api/v1/stats")["edges"]
    return edges[0] if edges else {}


def test_outage_and_edge_kill_lose_nothing_and_duplicate_nothing(
    stack: Stack, mosquitto: Mosquitto
) -> None:
    wait_for(lambda: stack.get("/api/v1/stats")["stored"] >= 108, 30, what="two cycles stored")
    window_start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(3)

    mosquitto_pub(mosquitto.port, CMD, '{"cmd": "network_outage", "value": true}')
    wait_for(lambda: _edge(stack).get("uplink") == "cut", 10, what="the edge to report the cut")
    depths: list[int] = []
    half = time.monotonic() + OUTAGE_S / 2
    while time.monotonic() < half:
        depths.append(int(_edge(stack)["buffer_depth"]))  # type: ignore[call-overload]
        time.sleep(1)

    # kill -9 the edge with the uplink cut; the supervisor must bring it back with its buffer.
    old_pid = stack.pid("edge")
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: stack.pid("edge") != old_pid, 20, what="the supervisor to restart the edge")
    wait_for(
        lambda: (stack.data_dir / "run" / "edge-01.ready").exists(), 20, what="edge resubscribed"
    )
    # The outage is still in force: the restarted edge must remember it, not drain.
    wait_for(lambda: _edge(stack).get("uplink") == "cut", 10, what="the restarted edge to stay cut")
    end = half + OUTAGE_S / 2
    while time.monotonic() < end:
        depths.append(int(_edge(stack)["buffer_depth"]))  # type: ignore[call-overload]
        time.sleep(1)

    mosquitto_pub(mosquitto.port, CMD, '{"cmd": "network_outage", "value": false}')
    wait_for(
        lambda: _edge(stack).get("uplink") == "ok" and _edge(stack)["buffer_depth"] == 0,
        30,
        what="the backlog to drain",
    )
    time.sleep(5)
    window_end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=3)
    assert max(depths) >= 27 * OUTAGE_S * 0.7, f"buffer depth never rose: {depths}"
    assert depths == sorted(depths), f"buffer drained during the outage: {depths}"

    first_tick = (window_start.timestamp() // 2 + 1) * 2
    last_tick = (window_end.timestamp() // 2) * 2
    cycles = int((last_tick - first_tick) / 2) + 1
    assert cycles >= OUTAGE_S / 2 + 2
    start = datetime.fromtimestamp(first_tick, tz=UTC)
    end_ = datetime.fromtimestamp(last_tick + 1, tz=UTC)
    problems = []
    for line, machine in MACHINES:
        for metric in METRICS:
            body = stack.get(
                "/api/v1/series",
                line=line,
                machine=machine,
                metric=metric.name,
                start=start.isoformat(),
                end=end_.isoformat(),
                bucket_seconds=2,
            )
            counts = [p["count"] for p in body["points"]]
            if len(counts) != cycles or set(counts) != {1}:
                problems.append(
                    f"{machine}/{metric.name}: {len(counts)} buckets of {cycles}, counts {set(counts)}"
                )
    assert not problems, "\n".join(problems)
    stats = stack.get("/api/v1/stats")
    assert stats["historical"] > 0  # the backlog arrived flagged as backfill
