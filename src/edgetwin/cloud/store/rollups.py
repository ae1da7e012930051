"""Which table answers which part of a time range: pure planning, no I/O.

A long range is split into an aligned interior answered by a rollup (1 hour, then 1 minute) and
ragged edges answered by the raw readings::

    start                                                                          end
    |raw|----- 1 min -----|============ 1 hour ============|---- 1 min ----|raw|

Rollup buckets are aligned on the Unix epoch, and a rollup is only used for output buckets that
are a multiple of its width, so every rollup row falls into exactly one output bucket and the
answer is exactly what the raw readings would give (up to floating-point summation order), for
any start and end. Short ranges read the raw readings only: they are cheap, and one query is
simpler to reason about than three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["raw", "1m", "1h"]

WIDTH_MS: dict[Source, int] = {"1h": 3_600_000, "1m": 60_000}
# A rollup is worth its extra query once the range spans at least this many of its buckets.
LONG_RANGE_BUCKETS = 10


@dataclass(frozen=True)
class Segment:
    """``[start_ms, end_ms)`` answered by ``source``; ``end_ms`` None means open-ended."""

    source: Source
    start_ms: int
    end_ms: int | None


def usable_rollups(bucket_ms: int | None, span_ms: int) -> list[Source]:
    """Rollups, coarsest first, that can answer buckets of ``bucket_ms`` (None: one bucket for
    the whole range, as the KPIs need) over a range of ``span_ms``."""
    out: list[Source] = []
    for source in ("1h", "1m"):
        width = WIDTH_MS[source]
        fits = bucket_ms is None or bucket_ms % width == 0
        if fits and span_ms >= LONG_RANGE_BUCKETS * width:
            out.append(source)
    return out


def cover(start_ms: int, end_ms: int | None, rollups: list[Source]) -> list[Segment]:
    """Split ``[start_ms, end_ms)`` into segments, using the given rollups (coarsest first)."""
    if end_ms is not None and end_ms <= start_ms:
        return []
    if not rollups:
        return [Segment("raw", start_ms, end_ms)]
    source, finer = rollups[0], rollups[1:]
    width = WIDTH_MS[source]
    lo = -(-start_ms // width) * width  # first boundary at or after start
    hi = None if end_ms is None else end_ms // width * width
    if hi is not None and hi <= lo:
        return cover(start_ms, end_ms, finer)
    return [
        *cover(start_ms, lo, finer),
        Segment(source, lo, hi),
        *([] if hi is None else cover(hi, end_ms, finer)),
    ]
