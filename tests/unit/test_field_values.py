"""The value rule of every entrance (``core.point.Number``): HTTP ingest and the edge's MQTT
source parse with it; sources that build readings from a device's fields check with
``valid_value``. Values are doubles within ±1e150; integers within ±2^53."""

from __future__ import annotations

import orjson
import pytest

from edgetwin.core.errors import WireFormatError
from edgetwin.core.point import (
    MAX_EXACT_INTEGER,
    MAX_MAGNITUDE,
    NUMBER_RULE,
    Point,
    parse_point,
    parse_points,
    valid_value,
)

GOOD = {
    "ts": "2026-01-15T10:30:00.123Z",
    "id": "550e8400-e29b-41d4-a716-446655440000",
    "tenant": "acme",
    "plant": "plant-01",
    "line": "line-01",
    "machine": "cnc-01",
    "metric": "temp",
    "value": 47.5,
}

REFUSED = [
    1e308,
    -1e151,
    MAX_EXACT_INTEGER + 1,  # 9007199254740993: a double would store ...992
    -(MAX_EXACT_INTEGER + 1),
    18446744073709551615,  # the MQTT case, 2^64 - 1
    True,
    "1",
    None,
]
ACCEPTED = [
    0,
    -1,
    1.5,
    MAX_MAGNITUDE,
    -MAX_MAGNITUDE,
    MAX_EXACT_INTEGER,
    -MAX_EXACT_INTEGER,
    5e-324,
]


@pytest.mark.parametrize("value", REFUSED)
def test_values_outside_the_rule_are_refused_by_name(value: object) -> None:
    raw = orjson.dumps({**GOOD, "value": value})
    with pytest.raises(WireFormatError) as info:
        parse_point(raw)  # the MQTT source's path
    assert info.value.problems == [{"index": 0, "errors": [f"value: {NUMBER_RULE}"]}]
    with pytest.raises(WireFormatError):
        parse_points([GOOD, {**GOOD, "value": value}])
    assert not valid_value(value)


@pytest.mark.parametrize("value", ACCEPTED)
def test_values_within_the_rule_are_stored_exactly(value: float) -> None:
    point = parse_point(orjson.dumps({**GOOD, "value": value}))
    assert point.value == value
    assert isinstance(point.value, float)
    assert valid_value(value)


def test_the_schema_says_values_are_doubles_within_the_range() -> None:
    schema = Point.model_json_schema()["properties"]["value"]
    assert (schema["type"], schema["format"]) == ("number", "double")
    assert (schema["minimum"], schema["maximum"]) == (-1e150, 1e150)
    assert "2^53" in schema["description"]
