"""Planning which table answers which part of a range (pure code, no database)."""

from __future__ import annotations

import itertools
import random

import pytest

from edgetwin.cloud.store.rollups import WIDTH_MS, Segment, cover, usable_rollups

H, M = 3_600_000, 60_000


def test_a_long_range_is_raw_minutes_hours_minutes_raw() -> None:
    start, end = 5 * H + 7 * M + 123, 30 * H + 2 * M + 9
    assert cover(start, end, ["1h", "1m"]) == [
        Segment("raw", start, 5 * H + 8 * M),
        Segment("1m", 5 * H + 8 * M, 6 * H),
        Segment("1h", 6 * H, 30 * H),
        Segment("1m", 30 * H, 30 * H + 2 * M),
        Segment("raw", 30 * H + 2 * M, end),
    ]


def test_aligned_and_open_ended_ranges() -> None:
    assert cover(2 * H, 4 * H, ["1h", "1m"]) == [Segment("1h", 2 * H, 4 * H)]
    assert cover(2 * H + 5, None, ["1h", "1m"]) == [
        Segment("raw", 2 * H + 5, 2 * H + M),
        Segment("1m", 2 * H + M, 3 * H),
        Segment("1h", 3 * H, None),
    ]
    assert cover(10, 20, ["1h", "1m"]) == [Segment("raw", 10, 20)]
    assert cover(20, 20, ["1m"]) == []


@pytest.mark.parametrize("seed", range(20))
def test_segments_tile_the_range_and_are_aligned(seed: int) -> None:
    rng = random.Random(seed)
    start = rng.randrange(0, 10**12)
    end = start + rng.randrange(1, 3 * 24 * H)
    rollups = usable_rollups(rng.choice([None, 60_000, 300_000, 3_600_000, 7_200_000]), end - start)
    segments = cover(start, end, rollups)
    assert segments[0].start_ms == start
    assert segments[-1].end_ms == end
    for a, b in itertools.pairwise(segments):
        assert a.end_ms == b.start_ms
    for s in segments:
        assert s.end_ms is not None
        assert s.start_ms < s.end_ms
        if s.source != "raw":
            assert s.source in rollups
            assert s.start_ms % WIDTH_MS[s.source] == 0 == s.end_ms % WIDTH_MS[s.source]


def test_rollups_only_for_long_ranges_and_fitting_buckets() -> None:
    assert usable_rollups(60_000, 5 * M) == []
    assert usable_rollups(60_000, 24 * H) == ["1m"]
    assert usable_rollups(3_600_000, 24 * H) == ["1h", "1m"]
    assert usable_rollups(10_000, 24 * H) == []
    assert usable_rollups(90_000, 24 * H) == []
    assert usable_rollups(None, 2 * H) == ["1m"]
