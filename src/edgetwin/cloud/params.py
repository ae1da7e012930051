"""Parameters that several routes take, each checked at the entrance by one rule.

- Names (tenant, plant, line, machine, metric) follow :mod:`edgetwin.core.ids` in the body, the
  path and the query: :data:`NameQuery`, :data:`NamePath`.
- Times in a query are ISO 8601; without an offset they are UTC. Out of the range
  1970-01-01T00:00:00Z .. 2201-01-01T00:00:00Z (or not a time at all) they are a 422 naming the
  parameter (:data:`TimeQuery`), never a 500 from an overflow further on.
- A device id is ``{plant}:{line}:{machine}`` (what ``GET /api/v1/devices`` lists), or
  ``{line}:{machine}``, or the machine's name alone when one line of the plant has it
  (:data:`DeviceIdPath`, :func:`parse_device_id`). ``:`` is not part of any name, so the id splits
  one way only, and it is URL-safe in a path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

from fastapi import Path, Query
from pydantic import AfterValidator

from edgetwin.core.ids import SEGMENT_PATTERN

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2201, 1, 1, tzinfo=UTC)
ID_SEPARATOR: Final = ":"
_SEG: Final = SEGMENT_PATTERN.removeprefix("^").removesuffix("$")
DEVICE_ID_PATTERN: Final = rf"^{_SEG}(?::{_SEG}){{0,2}}$"

NameQuery = Annotated[str, Query(pattern=SEGMENT_PATTERN)]
"""A name in the query string (tenant, plant, line, machine, metric)."""

NamePath = Annotated[str, Path(pattern=SEGMENT_PATTERN)]
"""A name in the path."""

DeviceIdPath = Annotated[
    str,
    Path(
        pattern=DEVICE_ID_PATTERN,
        description="``{plant}:{line}:{machine}`` as GET /api/v1/devices lists it; also"
        " ``{line}:{machine}``, or the machine's name alone when it is on one line only",
        examples=["plant-01:line-m:stm32-motor-01", "stm32-motor-01"],
    ),
]


def _in_range(ts: datetime) -> datetime:
    try:
        utc = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("must be a time from 1970-01-01T00:00:00Z to before 2201-01-01T00:00:00Z")
    return utc


UtcTime = Annotated[datetime, AfterValidator(_in_range)]
"""An ISO 8601 time within the range, as an aware UTC datetime (naive means UTC)."""


def device_id(plant: str, line: str, machine: str) -> str:
    """The id of a device, as ``/api/v1/devices`` lists it and its sub-resources accept it."""
    return ID_SEPARATOR.join((plant, line, machine))


def parse_device_id(value: str) -> tuple[str | None, str | None, str]:
    """``(plant, line, machine)`` of an id that matched :data:`DEVICE_ID_PATTERN`; the parts it
    does not name are None."""
    parts = value.split(ID_SEPARATOR)
    machine = parts[-1]
    line = parts[-2] if len(parts) >= 2 else None
    plant = parts[-3] if len(parts) == 3 else None
    return plant, line, machine
