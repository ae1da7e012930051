from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgetwin.core.errors import WireFormatError
from edgetwin.core.point import Point, parse_point, parse_points

GOOD = {
    "ts": "2026-01-15T10:30:00.123Z",
    "id": "550e8400-e29b-41d4-a716-446655440000",
    "tenant": "acme",
    "plant": "plant-01",
    "line": "line-01",
    "machine": "cnc-01",
    "metric": "temp",
    "value": 47.5,
    "unit": "°C",
    "q": 100,
}


def test_reference_reading_parses_and_round_trips() -> None:
    point = parse_point(orjson.dumps(GOOD))
    assert point.ts == datetime(2026, 1, 15, 10, 30, 0, 123000, tzinfo=UTC)
    assert point.id == uuid.UUID(GOOD["id"])
    assert point.to_wire() == GOOD
    assert parse_point(point.to_json()) == point


def test_offset_timestamps_are_the_same_instant_written_in_utc() -> None:
    point = parse_point({**GOOD, "ts": "2026-01-15T12:30:00.123+02:00"})
    assert point.ts == datetime(2026, 1, 15, 10, 30, 0, 123000, tzinfo=UTC)
    assert point.ts_ms == parse_point(GOOD).ts_ms
    assert point.to_wire()["ts"] == "2026-01-15T10:30:00.123Z"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("ts", "2026-01-15T10:30:00", "timezone"),
        ("ts", "yesterday", "ts"),
        ("id", "not-a-uuid", "id"),
        ("value", True, "number"),
        ("value", "47.5", "number"),
        ("value", "NaN", "value"),
        ("value", float("inf"), "finite"),
        ("ts", "1999-12-31T23:59:59Z", "2000"),
        ("ts", "2201-01-01T00:00:00Z", "2201"),
        ("value", "hot", "value"),
        ("machine", "cnc/01", "machine"),
        ("metric", "+", "metric"),
        ("q", 101, "q"),
        ("unit", "x" * 40, "unit"),
    ],
)
def test_bad_fields_are_named(field: str, value: object, needle: str) -> None:
    with pytest.raises(WireFormatError) as info:
        parse_point({**GOOD, field: value})
    errors = " ".join(info.value.problems[0]["errors"])  # type: ignore[arg-type]
    assert needle in errors


def test_unknown_and_missing_fields_are_rejected() -> None:
    with pytest.raises(WireFormatError, match="malformed"):
        parse_point({**GOOD, "extra": 1})
    missing = dict(GOOD)
    del missing["metric"]
    with pytest.raises(WireFormatError):
        parse_point(missing)


def test_not_json_and_not_object() -> None:
    with pytest.raises(WireFormatError):
        parse_point(b"{nope")
    with pytest.raises(WireFormatError):
        parse_point(b"[1, 2]")


def test_parse_points_names_every_bad_item() -> None:
    items = [GOOD, {**GOOD, "value": "x"}, 42, {**GOOD, "id": str(uuid.uuid4())}]
    with pytest.raises(WireFormatError) as info:
        parse_points(items)
    assert [p["index"] for p in info.value.problems] == [1, 2]


names = st.from_regex(r"[A-Za-z0-9_.\-]{1,20}", fullmatch=True)


@given(
    ts=st.datetimes(
        min_value=datetime(2001, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(timezone(timedelta(hours=3))),
    ),
    value=st.floats(min_value=-1e150, max_value=1e150, width=64),
    line=names,
    metric=names,
    q=st.integers(0, 100),
)
def test_wire_round_trip(ts: datetime, value: float, line: str, metric: str, q: int) -> None:
    point = Point.make(
        ts=ts,
        tenant="acme",
        plant="p",
        line=line,
        machine="m",
        metric=metric,
        value=value,
        unit="kW",
        q=q,
    )
    back = parse_point(point.to_json())
    assert back.value == value
    assert back.ts_ms == point.ts_ms  # the wire keeps milliseconds
    assert back.series_key == point.series_key
