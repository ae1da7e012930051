"""The core: types, wire format, topics, settings and errors. No I/O lives here."""

from edgetwin.core.errors import (
    ConfigError,
    EdgetwinError,
    PortInUseError,
    StoreUnavailableError,
    WireFormatError,
)
from edgetwin.core.point import Point, format_ts, parse_point, parse_points
from edgetwin.core.topics import ReadingTopic, command_topic, plant_filter, reading_topic

__all__ = [
    "ConfigError",
    "EdgetwinError",
    "Point",
    "PortInUseError",
    "ReadingTopic",
    "StoreUnavailableError",
    "WireFormatError",
    "command_topic",
    "format_ts",
    "parse_point",
    "parse_points",
    "plant_filter",
    "reading_topic",
]
