from __future__ import annotations

import pytest

from edgetwin.core.topics import (
    ReadingTopic,
    command_topic,
    parse_reading_topic,
    plant_filter,
    reading_topic,
    status_topic,
)


def test_build_and_parse() -> None:
    topic = reading_topic("acme", "plant-01", "line-01", "cnc-01", "temp")
    assert topic == "v1/acme/plant-01/line-01/cnc-01/temp"
    assert parse_reading_topic(topic) == ReadingTopic(
        "acme", "plant-01", "line-01", "cnc-01", "temp"
    )


@pytest.mark.parametrize(
    "topic",
    [
        "v1/acme/plant-01/cmd",
        "v1/acme/plant-01/line-01/cnc-01/cmd",
        "v2/acme/plant-01/line-01/cnc-01/temp",
        "v1/acme/plant-01/line-01/cnc-01/temp/extra",
        "v1/acme/plant-01/status/edge-01",
        "v1/acme//line-01/cnc-01/temp",
        "iot/breaker-7/raw",
    ],
)
def test_not_readings(topic: str) -> None:
    assert parse_reading_topic(topic) is None


def test_commands_filters_status() -> None:
    assert command_topic("acme", "plant-01") == "v1/acme/plant-01/cmd"
    assert (
        command_topic("acme", "plant-01", "line-01", "cnc-01")
        == "v1/acme/plant-01/line-01/cnc-01/cmd"
    )
    with pytest.raises(ValueError, match="both"):
        command_topic("acme", "plant-01", "line-01")
    assert plant_filter("acme", "plant-01") == "v1/acme/plant-01/+/+/+"
    assert status_topic("acme", "plant-01", "edge-01") == "v1/acme/plant-01/status/edge-01"
