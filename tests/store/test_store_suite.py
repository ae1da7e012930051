"""The store contract, run on every store (SQLite and PostgreSQL): one suite, same answers."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta

import pytest

from edgetwin.cloud.store.base import IngestResult, SeriesKey
from edgetwin.core.point import Point
from edgetwin.packs.factory.model import Faults
from tests.store.conftest import Harness
from tests.store.data import (
    TEMP,
    chunks,
    expected_aggregates,
    expected_series,
    factory,
    now_ms,
    now_s,
    reading,
)

HOUR_MS = 3_600_000


def test_describe_names_the_kind(harness: Harness, kind: str) -> None:
    assert harness.store.describe()["kind"] == kind


def test_counters_start_at_zero_and_add_up(harness: Harness) -> None:
    assert harness.run(harness.store.counters()) == {
        "stored": 0,
        "duplicates": 0,
        "historical": 0,
        "rejected": 0,
    }
    harness.run(harness.store.add_counter("rejected", 3))
    harness.run(harness.store.add_counter("rejected", 4))
    assert harness.run(harness.store.counters())["rejected"] == 7
    assert harness.run(harness.store.ingest([], historical=False)) == IngestResult(0, 0)


def test_duplicates_within_and_across_batches_are_stored_once(harness: Harness) -> None:
    s = harness.store
    batch = factory(now_s(), seed=1)
    assert harness.run(s.ingest([*batch[:10], *batch[:2]], historical=False)) == IngestResult(10, 2)
    assert harness.run(s.ingest(batch, historical=False)) == IngestResult(44, 10)
    assert harness.run(s.ingest(batch, historical=True)) == IngestResult(0, 54)
    counters = harness.run(s.counters())
    assert (counters["stored"], counters["duplicates"], counters["historical"]) == (54, 66, 0)
    start = batch[0].ts_ms - 60_000
    aggs = harness.run(s.aggregates("acme", "plant-01", start))
    assert len(aggs) == 54
    assert all(a.count == 1 for a in aggs)


def test_concurrent_overlapping_batches_are_stored_once(harness: Harness) -> None:
    """Retries racing their originals (the edge gave up on one worker and tried again)."""
    base = now_s() - timedelta(minutes=30)
    points = [p for i in range(20) for p in factory(base + timedelta(seconds=2 * i), seed=i)]
    batches = chunks(points, 100)
    rng = random.Random(5)
    sends = [*batches, *rng.sample(batches, 6), *chunks(points[50:], 100)]
    rng.shuffle(sends)

    async def all_at_once() -> list[IngestResult]:
        return await asyncio.gather(*(harness.store.ingest(b, historical=False) for b in sends))

    results = harness.run(all_at_once())
    sent = sum(len(b) for b in sends)
    assert sum(r.accepted for r in results) == len(points)
    assert sum(r.duplicate for r in results) == sent - len(points)
    counters = harness.run(harness.store.counters())
    assert (counters["stored"], counters["duplicates"]) == (len(points), sent - len(points))
    aggs = harness.run(
        harness.store.aggregates("acme", "plant-01", int(base.timestamp() * 1000) - 1)
    )
    assert sum(a.count for a in aggs) == len(points)


def test_latest_is_the_newest_and_a_backfill_never_replaces_it(harness: Harness) -> None:
    s = harness.store
    now = now_s()
    harness.run(s.ingest(factory(now, seed=1), historical=False))
    old = factory(now - timedelta(minutes=3), seed=2, faults=Faults(bearing_fault=True))
    assert harness.run(s.ingest(old, historical=True)) == IngestResult(54, 0)
    latest = harness.run(s.latest("acme", "plant-01"))
    assert len(latest) == 54
    now_ms_ = int(now.timestamp() * 1000)
    assert {v.ts_ms for _plant, v in latest} == {now_ms_}
    state = {v.machine: v.value for _plant, v in latest if v.metric == "state"}
    assert 2.0 not in state.values()  # the backfilled FAULT is history, not the current state
    assert harness.run(s.counters())["historical"] == 54
    # Within one batch the newest reading wins, whatever the order it arrives in.
    newer, newest = now_ms_ + 2000, now_ms_ + 4000
    harness.run(s.ingest([reading(newest, 99.5), reading(newer, 11.0)], historical=False))
    temp = next(
        v for _p, v in harness.run(s.latest("acme")) if v.machine == "cnc-01" and v.metric == "temp"
    )
    assert (temp.ts_ms, temp.value, temp.unit) == (newest, 99.5, "°C")


def test_latest_is_scoped_by_tenant_and_plant(harness: Harness) -> None:
    s = harness.store
    now = now_s()
    harness.run(s.ingest(factory(now, 1), historical=False))
    harness.run(s.ingest(factory(now, 2, plant="plant-02"), historical=False))
    harness.run(s.ingest(factory(now, 3, tenant="other"), historical=False))
    assert {p for p, _v in harness.run(s.latest("acme"))} == {"plant-01", "plant-02"}
    assert {p for p, _v in harness.run(s.latest("acme", "plant-02"))} == {"plant-02"}
    assert len(harness.run(s.latest("other"))) == 54
    assert harness.run(s.latest("nobody")) == []
    assert harness.run(s.aggregates("nobody", "plant-01", 0)) == []
    ordered = [(p, v.line, v.machine, v.metric) for p, v in harness.run(s.latest("acme"))]
    assert ordered == sorted(ordered)


def test_unit_of(harness: Harness) -> None:
    harness.run(harness.store.ingest(factory(now_s(), 1), historical=False))
    assert harness.run(harness.store.unit_of(TEMP)) == "°C"
    energy = SeriesKey("acme", "plant-01", "line-02", "press-01", "energy_kw")
    assert harness.run(harness.store.unit_of(energy)) == "kW"
    assert harness.run(harness.store.unit_of(SeriesKey("acme", "plant-01", "x", "y", "z"))) is None


def test_series_buckets_match_the_readings(harness: Harness) -> None:
    """26 h of one series at odd instants, plus a neighbour that must not leak in. Long ranges
    cross rollup boundaries at odd places; the answer must not depend on how it is computed."""
    rng = random.Random(11)
    t0 = now_ms() - 26 * HOUR_MS - 12_345
    temp = [reading(t0 + i * 37_500 + rng.randrange(1000), rng.gauss(50, 3)) for i in range(2500)]
    other_key = SeriesKey("acme", "plant-01", "line-01", "cnc-02", "temp")
    other = [reading(p.ts_ms, 500.0, other_key) for p in temp[::5]]
    for batch in chunks([*temp, *other], 700):
        harness.run(harness.store.ingest(batch, historical=True))
    end = temp[-1].ts_ms + 1
    cases = [
        (t0, end, 3600),
        (t0 + 1_234, t0 + 25 * HOUR_MS + 777, 60),
        (t0 + 59_999, t0 + 20 * HOUR_MS + 1, 7200),
        (t0 + 3 * HOUR_MS + 5, t0 + 9 * HOUR_MS, 300),
        (t0 + HOUR_MS, t0 + 3 * HOUR_MS, 10),
        (t0 + HOUR_MS + 17, t0 + HOUR_MS + 5 * 60_000, 60),
        (t0 - 48 * HOUR_MS, t0 - 47 * HOUR_MS, 60),
    ]
    for start, stop, bucket in cases:
        got = harness.run(harness.store.series(TEMP, start, stop, bucket))
        want = expected_series(temp, TEMP, start, stop, bucket)
        assert [(b.start_ms, b.count, b.min, b.max) for b in got] == [
            (e.start_ms, e.count, e.min, e.max) for e in want
        ], (start, stop, bucket)
        assert [b.avg for b in got] == pytest.approx([e.avg for e in want], rel=1e-9)
    missing = SeriesKey("acme", "plant-01", "line-01", "cnc-01", "nope")
    assert harness.run(harness.store.series(missing, t0, end, 60)) == []


def test_kpi_aggregates_match_the_readings(harness: Harness) -> None:
    """23 h of factory cycles every 10 min, a third of them faulty; short and long periods."""
    now = now_s()
    points: list[Point] = []
    for i in range(138):
        mode = Faults(bearing_fault=i % 3 == 0)
        points += factory(now - timedelta(minutes=10 * i, seconds=1), seed=i, faults=mode)
    for batch in chunks(points, 540):
        harness.run(harness.store.ingest(batch, historical=False))
    for minutes in (5, 61, 23 * 60):
        start = now_ms() - minutes * 60_000
        got = {
            (a.line, a.machine, a.metric): a
            for a in harness.run(harness.store.aggregates("acme", "plant-01", start))
        }
        want = expected_aggregates(points, "acme", "plant-01", start)
        assert set(got) == set(want), minutes
        for key, (total, count, faults) in want.items():
            a = got[key]
            assert (a.count, a.faults) == (count, faults), (minutes, key)
            assert a.total == pytest.approx(total, rel=1e-9)
            assert a.avg == pytest.approx(total / count, rel=1e-9)
    assert (
        sum(a.faults for a in harness.run(harness.store.aggregates("acme", "plant-01", 0)))
        == 46 * 9
    )


def test_everything_survives_a_restart(harness: Harness) -> None:
    batch = factory(now_s(), 1)
    harness.run(harness.store.ingest(batch, historical=False))
    harness.run(harness.store.add_counter("rejected", 2))
    before = (harness.run(harness.store.counters()), harness.run(harness.store.latest("acme")))
    harness.reopen()
    after = (harness.run(harness.store.counters()), harness.run(harness.store.latest("acme")))
    assert before == after
    assert harness.run(harness.store.ingest(batch, historical=False)) == IngestResult(0, 54)


def test_same_id_is_a_duplicate_even_with_another_value(harness: Harness) -> None:
    """Idempotency is on the reading's identity; a retry is never a new reading."""
    rid = uuid.uuid4()
    ts = now_ms() - 1000
    assert (
        harness.run(harness.store.ingest([reading(ts, 1.0, id=rid)], historical=False)).accepted
        == 1
    )
    again = harness.run(harness.store.ingest([reading(ts, 2.0, id=rid)], historical=False))
    assert again == IngestResult(0, 1)
    latest = [v for _p, v in harness.run(harness.store.latest("acme")) if v.metric == "temp"]
    assert [v.value for v in latest] == [1.0]
