"""Brokers lose data in ways a pipeline must not depend on. These tests show two of them on
Mosquitto and that edgetwin's counts expose the loss instead of hiding it: whatever reached the
edge is stored exactly once, and the difference to what the devices sent is reported."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.chaos.harness import Harness, Report, long_only
from tests.chaos.test_kills import _broker_report

pytestmark = pytest.mark.chaos


@long_only  # a broker's defect, shown for the record; edgetwin's own guarantees run always
def test_restart_without_persistence_loses_queued_messages(
    harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    h = harness(broker_persistence=False)
    time.sleep(2)
    h.broker.stop()
    time.sleep(4)
    h.restart_broker()
    time.sleep(3)
    r = record(
        _broker_report(
            h, "pitfall: broker restart, no persistence", h.settle(missing=lambda: len(h.gen.sent))
        )
    )
    r.notes += " (sessions and queues were in memory only)"
    assert r.lost == 0
    assert r.duplicated == 0
    assert r.lost_at_broker > 0, "expected the broker to lose what it queued"
    assert r.stored + r.lost_at_broker == r.confirmed


@long_only
def test_max_queued_messages_drops_silently(
    harness: Callable[..., Harness], record: Callable[[Report], Report]
) -> None:
    """Mosquitto's default ``max_queued_messages 1000``: while the edge is away, QoS 1 messages
    beyond 1000 are dropped by the broker without telling anyone."""
    h = harness(max_queued=1000, rate=400)
    time.sleep(2)
    h.edge.stop()
    time.sleep(6)  # ~2400 readings for an absent subscriber
    h.start_edge()
    r = record(
        _broker_report(
            h, "pitfall: max_queued_messages 1000", h.settle(missing=lambda: len(h.gen.sent))
        )
    )
    assert r.lost == 0
    assert r.duplicated == 0
    assert r.lost_at_broker >= 1000
    assert r.stored + r.lost_at_broker == r.confirmed
