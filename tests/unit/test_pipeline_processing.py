"""Processors in the edge's data path: readings no processor wants keep the bytes the device
sent; a processor sees only what it wants; an empty result filters; chains apply in order."""

from __future__ import annotations

from typing import Any

import orjson

from edgetwin.core.point import Point
from edgetwin.edge.runtime import EdgeRuntime
from tests.unit.test_buffer import _points


class Doubler:
    """A processor of our own: doubles ``temp`` and drops ``bad_count``."""

    name = "doubler"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def wants(self, point: Point) -> bool:
        return point.metric in ("temp", "bad_count")

    def process(self, points: list[Point]) -> list[Point]:
        self.seen += [p.metric for p in points]
        return [p.model_copy(update={"value": p.value * 2}) for p in points if p.metric == "temp"]

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        return None


def test_untouched_readings_keep_their_bytes_and_wanted_ones_are_processed() -> None:
    points = _points(1)
    raw = [p.to_json() + b" " for p in points]  # bytes as a device sent them (not re-encoded)
    proc = Doubler()
    rows = EdgeRuntime._rows(points, raw, [proc])
    by_id = {r[0]: r for r in rows}
    assert set(proc.seen) == {"temp", "bad_count"}
    assert len(rows) == len(points) - 9  # the 9 bad_count readings were filtered
    for p, r in zip(points, raw, strict=True):
        if p.metric == "temp":
            assert orjson.loads(by_id[str(p.id)][1])["value"] == p.value * 2
        elif p.metric != "bad_count":
            assert by_id[str(p.id)][1] is r


def test_without_a_wanting_processor_every_payload_is_passed_as_is() -> None:
    points = [p for p in _points(1) if p.metric not in ("temp", "bad_count")]
    raw = [p.to_json() for p in points]
    rows = EdgeRuntime._rows(points, raw, [Doubler()])
    assert [r[1] for r in rows] == raw
