"""Fault counting is the packs' rule, not the store's: a store counts as faults the readings its
fault rules name (built from device types), on SQLite and on PostgreSQL, over short ranges (raw
readings) and long ones (PostgreSQL's rollups), and follows the rules when they change."""

from __future__ import annotations

from datetime import timedelta

import pytest

from edgetwin.cloud.store.base import SeriesKey
from edgetwin.core.device import DeviceType, MetricSpec, fault_rules
from edgetwin.core.point import Point
from edgetwin.packs.factory.model import Faults
from tests.store.conftest import Harness
from tests.store.data import FACTORY_RULES, chunks, expected_aggregates, factory, now_ms, now_s

# A device type of no pack: its "mode" is a fault in codes 3 and 4; its "level" never is.
PUMP = DeviceType(
    name="test.pump",
    title="Pump",
    pack="test",
    metrics=(
        MetricSpec(
            "mode",
            "enum",
            "enum",
            states={0: "OK", 3: "DRY", 4: "JAM"},
            fault_states=frozenset({3, 4}),
        ),
        MetricSpec("level", "%"),
    ),
)
PUMP_RULES = fault_rules([PUMP])
PERIODS = (5, 61, 23 * 60)  # minutes: raw readings only, then 1-minute and 1-hour rollups too


def pump_readings() -> list[Point]:
    """23 h of a pump every 5 min: its mode cycles 0..4, its level takes the same values."""
    now = now_s()
    out = []
    for i in range(23 * 12):
        ts = now - timedelta(minutes=5 * i, seconds=1)
        for metric, unit in (("mode", "enum"), ("level", "%")):
            key = SeriesKey("acme", "plant-01", "line-p", "pump-01", metric)
            out.append(
                Point.make(
                    ts=ts,
                    tenant=key.tenant,
                    plant=key.plant,
                    line=key.line,
                    machine=key.machine,
                    metric=metric,
                    value=float(i % 5),
                    unit=unit,
                )
            )
    return out


def check_counts(harness: Harness, points: list[Point], rules: dict[str, frozenset[int]]) -> None:
    for minutes in PERIODS:
        start = now_ms() - minutes * 60_000
        got = {
            (a.line, a.machine, a.metric): a.faults
            for a in harness.run(harness.store.aggregates("acme", "plant-01", start))
        }
        want = {
            key: faults
            for key, (_t, _n, faults) in expected_aggregates(
                points, "acme", "plant-01", start, rules
            ).items()
        }
        assert got == want, minutes


@pytest.fixture
def pump_harness(harness: Harness) -> Harness:
    harness.reopen(PUMP_RULES)
    return harness


def test_a_device_types_fault_codes_are_counted(pump_harness: Harness) -> None:
    """Codes 3 and 4 of ``mode`` are faults; the same values of ``level`` are not."""
    points = pump_readings()
    for batch in chunks(points, 100):
        pump_harness.run(pump_harness.store.ingest(batch, historical=False))
    check_counts(pump_harness, points, PUMP_RULES)
    aggs = pump_harness.run(pump_harness.store.aggregates("acme", "plant-01", 0))
    faults = {a.metric: a.faults for a in aggs}
    assert faults == {"mode": 2 * 23 * 12 // 5, "level": 0}


def test_without_rules_nothing_is_a_fault(harness: Harness) -> None:
    harness.reopen({})
    bearing = Faults(bearing_fault=True)
    points = [p for i in range(30) for p in factory(now_s() - timedelta(minutes=2 * i), i, bearing)]
    harness.run(harness.store.ingest(points, historical=False))
    assert sum(1 for p in points if p.value in FACTORY_RULES.get(p.metric, ())) > 0
    aggs = harness.run(harness.store.aggregates("acme", "plant-01", 0))
    assert sum(a.faults for a in aggs) == 0


def test_counts_follow_the_rules_when_they_change(harness: Harness) -> None:
    """Enabling and disabling a pack changes the rules; every kept reading is counted by the
    rules the store is opened with (PostgreSQL recounts its rollups at start)."""
    points = pump_readings() + [
        p
        for i in range(138)
        for p in factory(
            now_s() - timedelta(minutes=10 * i, seconds=1), i, Faults(bearing_fault=i % 3 == 0)
        )
    ]
    for batch in chunks(points, 540):
        harness.run(harness.store.ingest(batch, historical=False))
    check_counts(harness, points, FACTORY_RULES)
    both = {**FACTORY_RULES, **PUMP_RULES}
    harness.reopen(both)
    check_counts(harness, points, both)
    harness.reopen({})
    check_counts(harness, points, {})
    harness.reopen(FACTORY_RULES)
    check_counts(harness, points, FACTORY_RULES)
