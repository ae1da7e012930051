"""Faults on the links, through our fault proxy: black holes, resets, answers lost after the
cloud committed (the retry must not duplicate), and 1,000 rapid flaps."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.chaos.harness import LONG, Harness, Report, long_only
from tests.chaos.test_kills import _assert_exact
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.chaos
HOLD_S = 30.0 if LONG else 3.0
FLAPS = 1000


LINK_FAULTS = [
    ("cloud", "blackhole"),
    pytest.param("cloud", "reset", marks=long_only),  # blackhole's sibling: a faster failure
    ("cloud", "drop_response"),
    ("broker", "blackhole"),
    pytest.param("broker", "reset", marks=long_only),
]


@pytest.mark.parametrize(("link", "mode"), LINK_FAULTS)
def test_link_fault(
    link: str, mode: str, harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    h = harness(proxy_cloud=link == "cloud", proxy_broker=link == "broker")
    proxy = h.cloud_proxy if link == "cloud" else h.broker_proxy
    assert proxy is not None
    time.sleep(2)
    proxy.set_mode(mode)  # type: ignore[arg-type]
    time.sleep(HOLD_S)
    proxy.set_mode("pass")
    time.sleep(2)  # live readings after the fault
    r = record(h.report(f"edge->{link} {mode} {HOLD_S:.0f} s", h.settle()))
    if mode == "drop_response":
        r.notes = f"{proxy.dropped_responses} answers dropped after the cloud committed"
        assert proxy.dropped_responses > 0
        stats = h.http.get("/api/v1/stats").json()
        assert stats["duplicates"] > 0  # the retries did arrive twice...
    _assert_exact(r)  # ...and were stored once


def test_rapid_flaps_never_stick_the_uplink(
    harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    h = harness(proxy_cloud=True)
    proxy = h.cloud_proxy
    assert proxy is not None
    time.sleep(1)
    modes = ("reset", "pass", "blackhole", "pass", "drop_response", "pass")
    for i in range(FLAPS):
        proxy.set_mode(modes[i % len(modes)])  # type: ignore[arg-type]
        time.sleep(0.01)
    proxy.set_mode("pass")
    flapped_at = time.monotonic()
    # The uplink recovers by itself: the buffer drains without any help.
    wait_for(
        lambda: h.edge_status().get("buffer_depth", 1) < h.gen.rate, 30, what="uplink recovery"
    )
    recovered = time.monotonic() - flapped_at
    r = record(h.report(f"edge->cloud {FLAPS} flaps", h.settle()))
    r.recovery_s = round(recovered, 1)
    _assert_exact(r)
